//! The benchmark operator's resource (kind `Load` in `bench.autopilot.dev`) on the local control
//! plane: its CRD, creating many, and watching them reach the final phase.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio::sync::watch;

/// The benchmark operator's API group.
pub const GROUP: &str = "bench.autopilot.dev";
/// The initial phase.
pub const INITIAL: &str = "Initializing";
/// The middle phase.
pub const MIDDLE: &str = "Processing";
/// The final phase.
pub const FINAL: &str = "Finished";
/// Phase transitions each resource makes: Initializing → Processing → Finished.
pub const TRANSITIONS_PER_CR: usize = 2;

/// Creates in flight at once while preparing resources (preparation is not measured).
const CREATE_CONCURRENCY: usize = 32;

/// `autopilot.yaml` of the benchmark operator: three phases, no inputs or outputs, so every
/// cost measured is the engine's own.
pub const AUTOPILOT_YAML: &str = r#"apiVersion: bench.autopilot.dev/v1
kind: Load
operatorName: bench-operator
spec:
  type: object
  properties:
    payload:
      type: string
phases:
  - name: Initializing
    initial: true
  - name: Processing
  - name: Finished
    final: true
"#;

/// The `Load` kind as a kube dynamic resource.
pub fn load_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", "Load"), "loads")
}

/// The `Load` API in `namespace`.
pub fn loads(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &load_resource())
}

/// A namespaced test kind with a status subresource and one string field in its spec.
#[derive(Debug, Clone, Copy)]
pub struct TestKind<'a> {
    /// API group.
    pub group: &'a str,
    /// Kind, e.g. `Load`.
    pub kind: &'a str,
    /// The spec's one string field.
    pub spec_field: &'a str,
    /// Field manager of the server-side apply.
    pub manager: &'a str,
}

/// Installs `kind`'s CRD (version v1) and waits until it is established and listed.
///
/// # Errors
///
/// The API server refused it or it was not usable within 60 s.
pub async fn install_kind(client: &kube::Client, kind: &TestKind<'_>) -> anyhow::Result<()> {
    let singular = kind.kind.to_lowercase();
    let plural = format!("{singular}s");
    let name = format!("{plural}.{}", kind.group);
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": kind.group,
            "names": {
                "kind": kind.kind, "plural": plural, "singular": singular,
                "listKind": format!("{}List", kind.kind)
            },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {kind.spec_field: {"type": "string"}}},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }}
            }]
        }
    }))?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        &name,
        &PatchParams::apply(kind.manager).force(),
        &Patch::Apply(&crd),
    )
    .await
    .with_context(|| format!("applying the {} CRD", kind.kind))?;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(kind.group, "v1", kind.kind),
        &plural,
    );
    let objects: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let crd = api.get(&name).await?;
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        // The resource is usable once discovery serves it.
        if established && objects.list(&Default::default()).await.is_ok() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the {} CRD was not established within 60 s",
            kind.kind
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Installs the `Load` CRD and waits until it is established.
///
/// # Errors
///
/// The API server refused it or it was not established within 60 s.
pub async fn install_crd(client: &kube::Client) -> anyhow::Result<()> {
    install_kind(
        client,
        &TestKind {
            group: GROUP,
            kind: "Load",
            spec_field: "payload",
            manager: "autopilot-bench",
        },
    )
    .await
}

/// Name of the `i`th resource.
pub fn name_of(i: usize) -> String {
    format!("load-{i:05}")
}

/// Creates `count` resources in `namespace`, each with a spec of about `spec_bytes` bytes.
///
/// # Errors
///
/// A create failed.
pub async fn create_loads(
    client: &kube::Client,
    namespace: &str,
    count: usize,
    spec_bytes: usize,
) -> anyhow::Result<()> {
    let api = loads(client, namespace);
    let payload = "x".repeat(spec_bytes);
    futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            let payload = payload.clone();
            async move {
                let obj: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": format!("{GROUP}/v1"),
                    "kind": "Load",
                    "metadata": {"name": name_of(i), "namespace": namespace},
                    "spec": {"payload": payload},
                }))?;
                api.create(&PostParams::default(), &obj)
                    .await
                    .with_context(|| format!("creating Load {}", name_of(i)))?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<()>()
        .await
}

/// What a [`PhaseWatch`] has seen so far.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Resources whose status names the final phase.
    pub finished: usize,
    /// When the first resource with a status phase was seen.
    pub first_status: Option<Instant>,
    /// For each resource seen in both, the time from its first [`MIDDLE`] status to its
    /// [`FINAL`] one: how long the middle phase took to run once it was written.
    pub middle_dwell: Vec<Duration>,
}

impl Progress {
    /// The median of [`middle_dwell`](Self::middle_dwell).
    pub fn median_middle_dwell(&self) -> Option<Duration> {
        let mut d = self.middle_dwell.clone();
        d.sort_unstable();
        d.get(d.len() / 2).copied()
    }
}

/// Watches the resources of one namespace and counts those in the final phase.
#[derive(Debug)]
pub struct PhaseWatch {
    progress: watch::Receiver<Progress>,
    task: tokio::task::JoinHandle<()>,
}

impl PhaseWatch {
    /// Starts watching `namespace`.
    pub fn start(client: &kube::Client, namespace: &str) -> Self {
        let (tx, progress) = watch::channel(Progress::default());
        let stream =
            watcher(loads(client, namespace), watcher::Config::default()).applied_objects();
        let task = tokio::spawn(async move {
            // Per resource: when the middle phase was first seen, and whether it is final.
            let mut phases: HashMap<String, (Option<Instant>, bool)> = HashMap::new();
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let Ok(obj) = event else { continue };
                let phase = obj
                    .data
                    .pointer("/status/phase")
                    .and_then(|p| p.as_str())
                    .unwrap_or("");
                if phase.is_empty() {
                    continue;
                }
                let now = Instant::now();
                let seen = phases
                    .entry(obj.metadata.name.clone().unwrap_or_default())
                    .or_default();
                if seen.1 {
                    continue;
                }
                let mut dwell = None;
                if phase == MIDDLE {
                    seen.0.get_or_insert(now);
                } else if phase == FINAL {
                    seen.1 = true;
                    dwell = seen.0.map(|middle| now - middle);
                }
                let finished = phases.values().filter(|(_, f)| *f).count();
                tx.send_modify(|p| {
                    p.first_status.get_or_insert(now);
                    p.finished = finished;
                    p.middle_dwell.extend(dwell);
                });
            }
        });
        PhaseWatch { progress, task }
    }

    /// Waits until at least `count` resources are final.
    ///
    /// # Errors
    ///
    /// Not within `timeout`; the message says how many were final.
    pub async fn until_finished(&mut self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        let reached =
            tokio::time::timeout(timeout, self.progress.wait_for(|p| p.finished >= count))
                .await
                .is_ok_and(|r| r.is_ok());
        if !reached {
            anyhow::bail!(
                "waiting {timeout:?} for {count} Loads to reach {FINAL}: {} did",
                self.progress.borrow().finished
            );
        }
        Ok(())
    }

    /// Waits until any resource has a status phase, and returns when that was seen.
    ///
    /// # Errors
    ///
    /// Not within `timeout`.
    pub async fn until_first_status(&mut self, timeout: Duration) -> anyhow::Result<Instant> {
        let result = tokio::time::timeout(
            timeout,
            self.progress.wait_for(|p| p.first_status.is_some()),
        )
        .await;
        match result {
            Ok(Ok(p)) => Ok(p.first_status.expect("checked")),
            _ => anyhow::bail!("waiting {timeout:?} for the first Load to get a status phase"),
        }
    }

    /// The progress so far.
    pub fn progress(&self) -> Progress {
        self.progress.borrow().clone()
    }
}

impl Drop for PhaseWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A generous bound for driving `count` resources to the final phase on a busy machine.
pub fn finish_timeout(count: usize) -> Duration {
    Duration::from_secs(120) + Duration::from_millis(100) * count as u32
}
