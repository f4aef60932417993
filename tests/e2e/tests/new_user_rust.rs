//! A new user's first Rust operator, step by step as the README tells it: `ap init`,
//! `ap generate --lang rust`, fill in the phase handlers, build and run the worker, run the
//! scheduler, `kubectl apply` the generated CRD and example — and the example resource reaches
//! its final phase with its VirtualService applied.
//!
//! The `ap init` project's Processing phase reads `metrics`. No Prometheus runs here: the
//! operator file points `prometheus.url` at a closed loopback port, so the scheduler hands the
//! worker each query as a metric carrying an error; the Processing handler below, like a user's
//! first draft, does not read metrics. The default project outputs Istio VirtualServices, so the test installs a
//! minimal VirtualService CRD when the cluster has none.
//!
//! Cargo builds `ap` and the worker in `$AUTOPILOT_CACHE/target-golden-rust`
//! (`AUTOPILOT_CACHE` defaults to `~/.cache/autopilot`), never the workspace's target
//! directory, whose lock the cargo running this test may hold.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

/// The CR's API group: unique to this suite, as CRDs are cluster-wide.
const GROUP: &str = "newuser-rust.e2e.autopilot.dev";
/// Building, scheduling and phase moves all happen within this once the worker is built.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// The Initializing handler a user writes: route all traffic of the target to it, move on.
const INITIALIZING: &str = r#"//! Initializing: set up the traffic routing for the target.

use autopilot_sdk::outputs::{self, Destination};
use autopilot_sdk::{Context, Outcome, WorkerError};

use crate::model::{Spec, StatusInfo};

/// Route every request for the target to its stable subset, then start shifting.
pub async fn handle(ctx: Context<Spec, StatusInfo>) -> Result<Outcome<StatusInfo>, WorkerError> {
    let target = &ctx.spec().target;
    let stable = Destination::new(target.as_str()).subset("stable").port(80).weight(100);
    Ok(Outcome::next("Processing")
        .output(outputs::virtual_service(target.as_str()).route([stable]))?
        .status(StatusInfo { weight: Some(0) })
        .event_normal("Routed", format!("VirtualService {target} created")))
}
"#;

/// The Processing handler: finish once the VirtualService shows up among the inputs.
const PROCESSING: &str = r#"//! Processing: shift traffic step by step while the success rate holds.

use autopilot_sdk::{Context, Outcome, WorkerError};

use crate::model::{Spec, StatusInfo};

/// Done once the scheduler reports the target's VirtualService as an input.
pub async fn handle(ctx: Context<Spec, StatusInfo>) -> Result<Outcome<StatusInfo>, WorkerError> {
    let target = &ctx.spec().target;
    let routed = ctx
        .objects_json("virtualservices")?
        .iter()
        .any(|vs| vs["metadata"]["name"].as_str() == Some(target.as_str()));
    if routed {
        Ok(Outcome::next("Finished").status(StatusInfo { weight: Some(100) }))
    } else {
        Ok(Outcome::stay())
    }
}
"#;

/// A VirtualService CRD with no schema beyond "keep every field": enough to apply outputs.
const VIRTUAL_SERVICE_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: virtualservices.networking.istio.io
spec:
  group: networking.istio.io
  names:
    kind: VirtualService
    listKind: VirtualServiceList
    plural: virtualservices
    singular: virtualservice
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The target directory of every nested cargo in this suite.
fn target_dir() -> PathBuf {
    let cache = std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/autopilot")))
        .expect("AUTOPILOT_CACHE or HOME is set");
    cache.join("target-golden-rust")
}

/// Runs `command`, panicking with its output unless it succeeds; returns its stdout.
fn run(what: &str, command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn cargo(dir: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir());
    command
}

/// `cargo install --path cli`, as the README says, but into the suite's own target directory.
fn build_ap() -> PathBuf {
    let root = repo_root();
    run(
        "building ap",
        cargo(&root).args(["build", "--quiet", "-p", "autopilot-cli", "--bin", "ap"]),
    );
    target_dir().join("debug/ap")
}

/// Replaces `from` with `to` in `path`, which must contain it.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// A port nothing listens on right now, for the worker.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The worker process; killed when dropped, printing its log if the test failed.
struct WorkerProcess {
    child: std::process::Child,
    log: PathBuf,
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- worker log {} ---", self.log.display());
            eprintln!("{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }
}

/// Prints what the namespace held if the test fails.
struct DumpOnPanic<'a>(&'a autopilot_testenv::TestNamespace);

impl Drop for DumpOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- namespace {} ---\n{}", self.0.name(), self.0.dump());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn new_user_builds_and_runs_a_rust_operator() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    let ns = cp.namespace("new-user-rust").await.expect("namespace");
    let _dump = DumpOnPanic(&ns);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("myop");
    let dir_s = dir.to_str().unwrap();

    // ap init; ap validate; ap generate --lang rust
    let ap = build_ap();
    run(
        "ap init",
        Command::new(&ap).args(["init", dir_s, "--kind", "Canary", "--group", GROUP]),
    );
    let validated = run("ap validate", Command::new(&ap).args(["validate", dir_s]));
    assert!(validated.starts_with("ok: Canary"), "{validated}");
    let sdk = repo_root().join("sdk-rust").canonicalize().unwrap();
    run(
        "ap generate",
        Command::new(&ap).args([
            "generate",
            dir_s,
            "--lang",
            "rust",
            "--sdk-path",
            sdk.to_str().unwrap(),
        ]),
    );

    // Fill in the handlers; point the operator at no Prometheus and loopback-only ports.
    let phases = dir.join("worker/src/phases");
    std::fs::write(phases.join("initializing.rs"), INITIALIZING).unwrap();
    std::fs::write(phases.join("processing.rs"), PROCESSING).unwrap();
    let operator = dir.join("autopilot-operator.yaml");
    edit(
        &operator,
        "url: http://prometheus.istio-system:9090",
        // Port 9 (discard) on loopback: refused at once, so each query fails fast.
        "url: http://127.0.0.1:9",
    );
    edit(
        &operator,
        "metricsAddr: \"0.0.0.0:9091\"",
        "metricsAddr: \"127.0.0.1:0\"",
    );
    edit(
        &operator,
        "healthAddr: \"0.0.0.0:9092\"",
        "healthAddr: \"\"",
    );
    edit(&operator, "workInterval: 5s", "workInterval: 1s");
    run(
        "ap validate (edited)",
        Command::new(&ap).args(["validate", dir_s]),
    );

    // Build the worker and its scaffolded test, as `cargo test` would.
    let worker_dir = dir.join("worker");
    run(
        "cargo build (worker)",
        cargo(&worker_dir).args(["build", "--quiet"]),
    );
    let manifest = std::fs::read_to_string(worker_dir.join("Cargo.toml")).unwrap();
    let package = manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("worker/Cargo.toml names its package");

    // Run the worker and the scheduler.
    let port = free_port();
    let log = dir.join("worker.log");
    let out = std::fs::File::create(&log).unwrap();
    let _worker = WorkerProcess {
        child: Command::new(target_dir().join("debug").join(package))
            .env("AUTOPILOT_WORKER_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("starting the worker"),
        log,
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let _scheduler = SchedulerProcess::start(
        &dir,
        cp.kubeconfig_path(),
        ns.name(),
        &["--worker-endpoint", &endpoint],
    );

    // Install the CRDs, then the example resource.
    let vs_crd = tmp.path().join("virtualservice-crd.yaml");
    std::fs::write(&vs_crd, VIRTUAL_SERVICE_CRD).unwrap();
    let exists = cp
        .kubectl()
        .args(["get", "crd", "virtualservices.networking.istio.io"])
        .output()
        .expect("kubectl runs");
    if !exists.status.success() {
        // Another suite may create it meanwhile: either way it exists afterwards.
        let _ = cp.kubectl().arg("create").arg("-f").arg(&vs_crd).output();
    }
    run(
        "kubectl apply deploy/crd.yaml",
        cp.kubectl()
            .arg("apply")
            .arg("-f")
            .arg(dir.join("deploy/crd.yaml")),
    );
    for crd in [
        format!("crd/canaries.{GROUP}"),
        "crd/virtualservices.networking.istio.io".to_owned(),
    ] {
        run(
            &format!("kubectl wait {crd} established"),
            cp.kubectl()
                .args(["wait", "--for", "condition=established", "--timeout", "60s"])
                .arg(&crd),
        );
    }
    run(
        "kubectl apply deploy/example.yaml",
        cp.kubectl()
            .args(["apply", "-n", ns.name(), "-f"])
            .arg(dir.join("deploy/example.yaml")),
    );

    // The example reaches Finished, with its VirtualService owned by it.
    let canaries: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns.name(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(GROUP, "v1", "Canary"),
            "canaries",
        ),
    );
    let status = wait::until(
        &format!(
            "Canary {}/example-canary to reach phase Finished",
            ns.name()
        ),
        PHASE_TIMEOUT,
        || async {
            let status = canaries
                .get("example-canary")
                .await
                .map(|c| c.data["status"].clone())
                .map_err(|e| e.to_string())?;
            if status["phase"] == "Finished" {
                Ok(status)
            } else {
                Err(status.to_string())
            }
        },
    )
    .await;
    assert_eq!(status["statusInfo"]["weight"], 100, "{status}");

    let canary = canaries.get("example-canary").await.unwrap();
    let virtual_services: Api<DynamicObject> = Api::namespaced_with(
        client,
        ns.name(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"),
            "virtualservices",
        ),
    );
    let vs = virtual_services
        .get("example")
        .await
        .expect("the Initializing output, VirtualService `example`, exists");
    let owner = vs
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|o| o.controller == Some(true))
        .expect("the VirtualService has a controller owner");
    assert_eq!(
        (owner.kind.as_str(), Some(&owner.uid)),
        ("Canary", canary.metadata.uid.as_ref())
    );
    assert_eq!(
        vs.data["spec"]["http"][0]["route"][0]["weight"],
        Value::from(100),
        "{:?}",
        vs.data
    );
}
