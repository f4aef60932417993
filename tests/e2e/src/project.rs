//! Project files and the CRD for the suites' test operator, kind `Task` in `e2e.autopilot.dev`.
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

/// The test operator's API group.
pub const GROUP: &str = "e2e.autopilot.dev";

/// The operator's kind as a kube dynamic resource.
pub fn task_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", "Task"), "tasks")
}

/// The default three-phase project: Initializing (outputs configmaps) → Processing → Finished.
pub const THREE_PHASES: &str = r#"apiVersion: e2e.autopilot.dev/v1
kind: Task
operatorName: task-operator
spec:
  type: object
  properties:
    behavior:
      type: string
    message:
      type: string
phases:
  - name: Initializing
    initial: true
    outputs: [configmaps]
  - name: Processing
    inputs:
      - name: configmaps
        labelSelector: "autopilot.dev/owner-uid={{ metadata.uid }}"
    outputs: [configmaps]
    prune: true
  - name: Finished
    final: true
  - name: Failed
    final: true
"#;

/// Writes a project directory with `autopilot.yaml` and an operator config pointing at
/// `endpoint` with short, test-friendly timings.
pub fn write(
    dir: &Path,
    autopilot_yaml: &str,
    endpoint: &str,
    extra_operator_yaml: &str,
) -> PathBuf {
    std::fs::create_dir_all(dir).expect("creating project dir");
    std::fs::write(dir.join("autopilot.yaml"), autopilot_yaml).expect("writing autopilot.yaml");
    let operator = format!(
        "workInterval: 2s\nconcurrency: 32\nworkers:\n  endpoint: {endpoint}\n  deadline: 2s\nretry:\n  initialBackoff: 100ms\n  maxBackoff: 1s\n  permanentErrorInterval: 3s\nmetricsAddr: \"127.0.0.1:0\"\nhealthAddr: \"\"\nlogLevel: info\n{extra_operator_yaml}"
    );
    std::fs::write(dir.join("autopilot-operator.yaml"), operator)
        .expect("writing autopilot-operator.yaml");
    dir.to_path_buf()
}

/// Installs the `Task` CRD (idempotent) and waits until it is established.
pub async fn install_crd(client: &kube::Client) {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("tasks.{GROUP}")},
        "spec": {
            "group": GROUP,
            "names": {"kind": "Task", "plural": "tasks", "singular": "task", "listKind": "TaskList"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {
                            "behavior": {"type": "string"},
                            "message": {"type": "string"}
                        }},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }}
            }]
        }
    }))
    .expect("valid CRD");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        &format!("tasks.{GROUP}"),
        &PatchParams::apply("e2e").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("applying the Task CRD");
    let name = format!("tasks.{GROUP}");
    crate::wait::until(
        "the Task CRD to be Established",
        Duration::from_secs(30),
        || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let crd = api.get(&name).await.map_err(|e| e.to_string())?;
                let established = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                if established {
                    Ok(())
                } else {
                    Err("not established".into())
                }
            }
        },
    )
    .await;
}

/// Creates a `Task` with the given behaviour in `namespace`.
pub async fn create_task(client: &kube::Client, namespace: &str, name: &str, behavior: &str) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &task_resource());
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "Task",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"behavior": behavior, "message": format!("hello from {name}")}
    }))
    .expect("valid Task");
    api.create(&Default::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("creating Task {name}: {e}"));
}

/// Reads a Task's status (or `null`).
pub async fn task_status(client: &kube::Client, namespace: &str, name: &str) -> serde_json::Value {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &task_resource());
    match api.get(name).await {
        Ok(o) => o
            .data
            .get("status")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
        Err(_) => serde_json::Value::Null,
    }
}
