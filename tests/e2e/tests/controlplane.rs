//! Smoke tests of the local control plane from `autopilot-testenv`, with the real binaries:
//! version, a CRD with a structural schema and its custom resources, watch events, schema
//! validation, the audit log, kube-controller-manager, and that no process outlives its test.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use autopilot_testenv::{Component, ControlPlane};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, ResourceExt};
use serde_json::json;

/// How long any one thing these tests wait for may take: generous, because the machine has two
/// cores and other test binaries may run at the same time.
const TIMEOUT: Duration = Duration::from_secs(60);

/// How often a poll for an asynchronous outcome looks again.
const POLL: Duration = Duration::from_millis(200);

const GROUP: &str = "smoke.autopilot.dev";
const PLURAL: &str = "widgets";
const CRD_NAME: &str = "widgets.smoke.autopilot.dev";

/// Awaits `future` for at most [`TIMEOUT`], failing with a message naming `what`.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .with_context(|| format!("timed out after {TIMEOUT:?} waiting for {what}"))
}

#[tokio::test]
async fn serves_kubernetes_1_34_to_kube_and_kubectl() -> anyhow::Result<()> {
    let waited = Instant::now();
    let cp = autopilot_testenv::shared().await?;
    eprintln!(
        "shared control plane (etcd, kube-apiserver, kube-controller-manager) started in {} ms; \
         this test waited {} ms for it",
        cp.started_in().as_millis(),
        waited.elapsed().as_millis()
    );

    let version = cp.client().apiserver_version().await?;
    ensure!(
        version.git_version.starts_with("v1.34."),
        "GET /version answered gitVersion {:?}",
        version.git_version
    );

    let output = tokio::process::Command::from(cp.kubectl())
        .args(["version", "-o", "json"])
        .output()
        .await
        .context("running kubectl")?;
    ensure!(
        output.status.success(),
        "kubectl version with the generated kubeconfig failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let versions: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    ensure!(
        versions["serverVersion"]["gitVersion"] == version.git_version.as_str(),
        "kubectl saw {}",
        versions["serverVersion"]
    );
    Ok(())
}

#[tokio::test]
async fn custom_resources_are_validated_stored_and_watched() -> anyhow::Result<()> {
    let cp = autopilot_testenv::shared().await?;
    let client = cp.client();

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &widget_crd()?)
        .await
        .context("creating the Widget CRD")?;
    let established = within(
        "CRD widgets.smoke.autopilot.dev to be Established",
        await_condition(crds.clone(), CRD_NAME, conditions::is_crd_established()),
    )
    .await??;
    ensure!(established.is_some(), "the CRD vanished while we waited");

    let ns = cp.namespace("crd").await?;
    let resource = ApiResource {
        group: GROUP.into(),
        version: "v1".into(),
        api_version: format!("{GROUP}/v1"),
        kind: "Widget".into(),
        plural: PLURAL.into(),
    };
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &resource);

    // Watch from the empty list's resourceVersion, so no event can slip past.
    let empty = widgets.list(&ListParams::default()).await?;
    ensure!(empty.items.is_empty(), "a fresh namespace holds widgets");
    let version = empty
        .metadata
        .resource_version
        .context("a list has a resourceVersion")?;
    let mut events = widgets
        .watch(&WatchParams::default(), &version)
        .await?
        .boxed();

    // create, get, list
    let created = widgets
        .create(
            &PostParams::default(),
            &widget("w1", json!({"replicas": 1, "mode": "Fast"}))?,
        )
        .await
        .context("creating Widget w1")?;
    ensure!(created.data["spec"]["replicas"] == 1, "created {created:?}");
    let got = widgets.get("w1").await?;
    ensure!(got.data["spec"]["mode"] == "Fast", "got {got:?}");
    let listed = widgets.list(&ListParams::default()).await?;
    let names: Vec<String> = listed.items.iter().map(ResourceExt::name_any).collect();
    ensure!(names == ["w1"], "listed {names:?}");

    // merge patch of the spec
    let patched = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await?;
    ensure!(
        patched.data["spec"] == json!({"replicas": 3, "mode": "Fast"}),
        "patched spec {}",
        patched.data["spec"]
    );
    ensure!(
        patched.metadata.generation == Some(2),
        "a spec change bumps generation"
    );

    // status: ignored on the main resource, written through the status subresource
    let ignored = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Sneaky"}})),
        )
        .await?;
    ensure!(
        ignored.data["status"]["phase"] != "Sneaky",
        "status was written through the main resource: {}",
        ignored.data
    );
    let with_status = widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready", "observedReplicas": 3}})),
        )
        .await?;
    ensure!(
        with_status.data["status"]["phase"] == "Ready",
        "{with_status:?}"
    );
    ensure!(
        with_status.metadata.generation == Some(2),
        "a status write must not bump generation"
    );
    let status = widgets.get_status("w1").await?;
    ensure!(
        status.data["status"] == json!({"phase": "Ready", "observedReplicas": 3}),
        "status {}",
        status.data["status"]
    );
    ensure!(
        status.data["spec"]["replicas"] == 3,
        "the status write kept the spec"
    );

    // the watch saw all of it
    let mut seen = Vec::new();
    within(
        "watch events ADDED w1 and MODIFIED w1 with status.phase Ready",
        async {
            while let Some(event) = events.try_next().await? {
                match event {
                    WatchEvent::Added(w) => seen.push(format!("ADDED {}", w.name_any())),
                    WatchEvent::Modified(w) => {
                        let phase = w.data["status"]["phase"].as_str().unwrap_or_default();
                        seen.push(format!("MODIFIED {} phase={phase:?}", w.name_any()));
                        if phase == "Ready" {
                            return Ok(());
                        }
                    }
                    WatchEvent::Deleted(w) => seen.push(format!("DELETED {}", w.name_any())),
                    WatchEvent::Bookmark(_) => {}
                    WatchEvent::Error(status) => bail!("the watch failed: {status:?}"),
                }
            }
            bail!("the watch ended")
        },
    )
    .await
    .and_then(|result| result)
    .with_context(|| format!("events seen: {seen:?}"))?;
    // The loop above stopped at the MODIFIED event of the status patch.
    ensure!(
        seen.first().map(String::as_str) == Some("ADDED w1")
            && seen.iter().any(|e| e == "MODIFIED w1 phase=\"\""),
        "expected ADDED, then MODIFIED by the spec patch, then by the status patch: {seen:?}"
    );

    // the schema is enforced by the API server
    for (case, spec, field) in [
        (
            "a string where the schema says integer",
            json!({"replicas": "three", "mode": "Fast"}),
            "spec.replicas",
        ),
        (
            "a value outside the enum",
            json!({"replicas": 1, "mode": "Reckless"}),
            "spec.mode",
        ),
        (
            "a missing required field",
            json!({"mode": "Fast"}),
            "spec.replicas",
        ),
    ] {
        let result = widgets
            .create(&PostParams::default(), &widget("invalid", spec)?)
            .await;
        match result {
            Err(kube::Error::Api(status)) => ensure!(
                status.code == 422 && status.reason == "Invalid" && status.message.contains(field),
                "{case}: expected 422 Invalid naming {field}, got {status:?}"
            ),
            Err(other) => bail!("{case}: expected 422 Invalid, got {other}"),
            Ok(w) => bail!("{case}: the API server accepted {}", w.data),
        }
    }

    // every request above is in the audit log
    let audit = cp
        .audit_log_path()
        .context("the audit log is on by default")?;
    let widgets_uri = format!("/apis/{GROUP}/v1/namespaces/{}/widgets", ns.name());
    within(
        "the audit log to record the CRD and Widget requests",
        async {
            loop {
                let log = tokio::fs::read_to_string(audit).await?;
                if log.contains("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
                    && log.contains(&widgets_uri)
                    && log.contains(&format!("{widgets_uri}/w1/status"))
                {
                    return anyhow::Ok(());
                }
                tokio::time::sleep(POLL).await;
            }
        },
    )
    .await??;
    let apiserver_log = cp
        .log_path(Component::ApiServer)
        .context("kube-apiserver has a log")?;
    ensure!(
        std::fs::metadata(apiserver_log)?.len() > 0,
        "{} is empty",
        apiserver_log.display()
    );

    crds.delete(CRD_NAME, &DeleteParams::default()).await?;
    Ok(())
}

#[tokio::test]
async fn controller_manager_creates_replicasets_and_collects_garbage() -> anyhow::Result<()> {
    let cp = autopilot_testenv::shared().await?;
    let client = cp.client();
    let ns = cp.namespace("kcm").await?;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]},
            },
        },
    }))?;
    deployments
        .create(&PostParams::default(), &deployment)
        .await?;
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), ns.name());
    within("a ReplicaSet owned by Deployment web", async {
        loop {
            let owned = replicasets.list(&ListParams::default()).await?.items;
            let owned_by_web = |rs: &ReplicaSet| {
                rs.owner_references()
                    .iter()
                    .any(|o| o.kind == "Deployment" && o.name == "web")
            };
            if owned.iter().any(owned_by_web) {
                return anyhow::Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await??;

    let config_maps: Api<ConfigMap> = Api::namespaced(client, ns.name());
    let owner = config_maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "owner"}}))?,
        )
        .await?;
    let dependent = json!({"metadata": {
        "name": "dependent",
        "ownerReferences": [{
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "owner",
            "uid": owner.uid().context("a created object has a uid")?,
        }],
    }});
    config_maps
        .create(&PostParams::default(), &serde_json::from_value(dependent)?)
        .await?;
    config_maps
        .delete("owner", &DeleteParams::background())
        .await?;
    within(
        "the garbage collector to delete ConfigMap dependent after its owner",
        async {
            while config_maps.get_opt("dependent").await?.is_some() {
                tokio::time::sleep(POLL).await;
            }
            anyhow::Ok(())
        },
    )
    .await??;
    Ok(())
}

#[tokio::test]
async fn dropping_a_control_plane_stops_its_processes() -> anyhow::Result<()> {
    let cp = ControlPlane::start().await?;
    eprintln!(
        "private control plane (etcd, kube-apiserver) started in {} ms",
        cp.started_in().as_millis()
    );
    let root = cp.root_dir().to_owned();
    let running = processes_naming(&root);
    ensure!(
        running.len() == 3,
        "expected etcd, kube-apiserver and the watchdog, found {running:?}"
    );

    drop(cp);
    let left = processes_naming(&root);
    ensure!(left.is_empty(), "still running after drop: {left:?}");
    ensure!(!root.exists(), "{} still exists after drop", root.display());
    Ok(())
}

/// Set in the child process of [`killing_the_test_process_stops_its_control_plane`].
const ORPHAN_CHILD_ENV: &str = "AUTOPILOT_E2E_ORPHAN_CHILD";

/// Runs this test binary again as a child that starts a full control plane and then waits; kills
/// that child with SIGKILL, so no destructor runs; and checks that every process of its control
/// plane is gone and its directory removed soon after.
#[tokio::test]
async fn killing_the_test_process_stops_its_control_plane() -> anyhow::Result<()> {
    const NAME: &str = "killing_the_test_process_stops_its_control_plane";
    if std::env::var_os(ORPHAN_CHILD_ENV).is_some() {
        let cp = ControlPlane::builder()
            .with_controller_manager()
            .with_scheduler()
            .start()
            .await?;
        println!("STARTED_MS {}", cp.started_in().as_millis());
        println!("ROOT {}", cp.root_dir().display());
        tokio::time::sleep(10 * TIMEOUT).await;
        bail!("the parent test should have killed this process by now");
    }

    let mut child = Command::new(std::env::current_exe()?)
        .args([NAME, "--nocapture", "--test-threads=1"])
        .env(ORPHAN_CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout was piped")?;
    // A blocking read on its own thread; killing the child ends it if the timeout strikes first.
    let announced = tokio::task::spawn_blocking(move || {
        let mut started_ms = None;
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints "test <name> ... " without a newline before the test's own output.
            if let Some((_, ms)) = line.split_once("STARTED_MS ") {
                started_ms = Some(ms.trim().to_owned());
            } else if let Some(root) = line.strip_prefix("ROOT ") {
                return Ok((PathBuf::from(root), started_ms));
            }
            lines.push(line);
        }
        Err(lines)
    });
    let announced = tokio::time::timeout(2 * TIMEOUT, announced).await;
    let (root, started_ms) = match announced {
        Ok(Ok(Ok(announced))) => announced,
        failed => {
            child.kill()?;
            child.wait()?;
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .context("stderr was piped")?
                .read_to_string(&mut stderr)?;
            bail!("the child never announced its control plane ({failed:?}); stderr:\n{stderr}");
        }
    };
    eprintln!(
        "full control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) \
         started in {} ms in the child",
        started_ms.as_deref().unwrap_or("?")
    );

    let running = processes_naming(&root);
    for component in [
        Component::Etcd,
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
    ] {
        ensure!(
            running.iter().any(|p| p.contains(component.binary_name())),
            "{component} is not running before the kill: {running:?}"
        );
    }

    child.kill()?; // SIGKILL
    child.wait()?;
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(15);
    loop {
        let left = processes_naming(&root);
        if left.is_empty() && !root.exists() {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "15 s after the test process was killed, still running: {left:?}; {} exists: {}",
            root.display(),
            root.exists()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "orphaned control plane gone {} ms after the kill",
        killed.elapsed().as_millis()
    );
    Ok(())
}

/// `"<pid> <command line>"` of every live process whose command line names `root` (zombies have
/// an empty command line and do not count).
fn processes_naming(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline
                .contains(root.as_ref())
                .then(|| format!("{pid} {}", cmdline.trim()))
        })
        .collect()
}

/// The Widget CRD: namespaced, a structural schema with a required integer and a string enum,
/// and the status subresource.
fn widget_crd() -> anyhow::Result<CustomResourceDefinition> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": PLURAL,
                "singular": "widget",
                "kind": "Widget",
                "listKind": "WidgetList",
            },
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["replicas", "mode"],
                            "properties": {
                                "replicas": {"type": "integer", "minimum": 0},
                                "mode": {"type": "string", "enum": ["Fast", "Safe"]},
                            },
                        },
                        "status": {
                            "type": "object",
                            "properties": {
                                "phase": {"type": "string"},
                                "observedReplicas": {"type": "integer"},
                            },
                        },
                    },
                }},
            }],
        },
    }))?)
}

/// A Widget named `name` with `spec`.
fn widget(name: &str, spec: serde_json::Value) -> anyhow::Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }))?)
}
