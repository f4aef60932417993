//! Go workers: the golden generated project is what `ap generate --lang go` produces today and
//! builds cleanly (gofmt, go vet, go test); the conformance worker's own tests pass; and a new
//! user's first Go operator — `ap init --lang go`, `ap generate`, two handlers filled in — runs
//! against the scheduler until its example resource reaches its final phase.
//!
//! Every test needs the Go toolchain (`hack/deps/go.sh` checks for it and downloads the SDK's
//! modules); without it they fail saying so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

/// The CR's API group of the new-user test: unique to this suite, as CRDs are cluster-wide.
const GROUP: &str = "newuser-go.e2e.autopilot.dev";
/// Scheduling and phase moves happen within this once the worker is built.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// The Initializing handler a user writes: route all traffic of the target to it, move on.
const INITIALIZING: &str = r#"package phases

import (
	"fmt"

	autopilot "autopilot.dev/sdk-go"
	"autopilot.dev/sdk-go/outputs"

	"canary-worker/model"
)

// Initializing routes every request for the target to its stable subset, then starts shifting.
func Initializing(ctx *model.Context) (*autopilot.Outcome, error) {
	target := ctx.Spec().Target
	weight := int64(0)
	return autopilot.Next("Processing").
		Output(outputs.VirtualService(target).
			Route(outputs.Destination(target).Subset("stable").Port(80).Weight(100))).
		Status(model.StatusInfo{Weight: &weight}).
		EventNormal("Routed", fmt.Sprintf("VirtualService %s created", target)), nil
}
"#;

/// The Processing handler: finish once the VirtualService shows up among the inputs.
const PROCESSING: &str = r#"package phases

import (
	autopilot "autopilot.dev/sdk-go"

	"canary-worker/model"
)

// Processing is done once the scheduler reports the target's VirtualService as an input.
func Processing(ctx *model.Context) (*autopilot.Outcome, error) {
	virtualServices, err := ctx.Objects(model.InputVirtualservices)
	if err != nil {
		return nil, err
	}
	for _, vs := range virtualServices {
		if metadata, ok := vs["metadata"].(map[string]any); ok && metadata["name"] == ctx.Spec().Target {
			weight := int64(100)
			return autopilot.Next("Finished").Status(model.StatusInfo{Weight: &weight}), nil
		}
	}
	return autopilot.Stay(), nil
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
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// Path of the `ap` binary beside the test binary, brought up to date once per test process.
fn ap() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            // target/<profile>/deps/<test> -> target/<profile>/ap
            let dir = exe.parent().and_then(Path::parent).expect("target dir");
            run(
                "building ap",
                Command::new(env!("CARGO")).args([
                    "build",
                    "--quiet",
                    "-p",
                    "autopilot-cli",
                    "--bin",
                    "ap",
                ]),
            );
            dir.join("ap")
        })
        .clone()
}

/// Runs `command`, panicking with its output unless it succeeds; returns its stdout.
fn run(what: &str, command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {:?}: {e}", command.get_program()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A Go tool command in `dir`, or a panic saying how to install Go when it is missing.
fn go(tool: &str, dir: &Path) -> Command {
    let probe = Command::new(tool)
        .arg(if tool == "go" { "version" } else { "-h" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = probe {
        panic!("cannot run `{tool}` ({e}): Go workers need the Go toolchain; see hack/deps/go.sh");
    }
    let mut command = Command::new(tool);
    // The toolchain in use builds; never download another one in a test.
    command.current_dir(dir).env("GOTOOLCHAIN", "local");
    command
}

/// gofmt -l (nothing listed), go vet and go test of the Go module in `dir`.
fn check_go_module(dir: &Path) {
    let unformatted = run("gofmt -l", go("gofmt", dir).args(["-l", "."]));
    assert!(
        unformatted.trim().is_empty(),
        "gofmt would reformat in {}:\n{unformatted}",
        dir.display()
    );
    run("go vet", go("go", dir).args(["vet", "./..."]));
    run("go test", go("go", dir).args(["test", "./..."]));
}

/// Every file under `dir`, by path relative to it.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn golden_go_project_is_current_and_builds() {
    let root = repo_root();
    let golden = root.join("tests/golden/go");
    // The SDK path is written verbatim, so the tree regenerates anywhere; only the golden
    // tree itself, where the path resolves, is built.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("golden");
    run(
        "tests/golden/regenerate-go.sh",
        Command::new("bash")
            .arg(root.join("tests/golden/regenerate-go.sh"))
            .arg(&out)
            .env("AP", ap()),
    );
    let (want, got) = (tree(&golden), tree(&out));
    let mut differences = Vec::new();
    for path in want
        .keys()
        .chain(got.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (want.get(path), got.get(path)) {
            (Some(w), Some(g)) if w == g => {}
            (Some(_), Some(g)) => differences.push(format!(
                "{path} differs; generated now:\n{}",
                String::from_utf8_lossy(g)
            )),
            (Some(_), None) => differences.push(format!("{path} is no longer generated")),
            (None, _) => {
                differences.push(format!("{path} is generated but not in the golden tree"))
            }
        }
    }
    assert!(
        differences.is_empty(),
        "tests/golden/go is out of date (run tests/golden/regenerate-go.sh and review the diff):\n{}",
        differences.join("\n")
    );
    check_go_module(&golden.join("worker"));
}

#[test]
fn sdk_passes_its_tests() {
    check_go_module(&repo_root().join("sdk-go"));
}

#[test]
fn conformance_worker_passes_its_tests() {
    check_go_module(&repo_root().join("tests/conformance/workers/go/worker"));
}

/// A port nothing listens on right now, for the worker.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Replaces `from` with `to` in `path`, which must contain it.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
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
async fn new_user_builds_and_runs_a_go_operator() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("myop");
    let dir_s = dir.to_str().unwrap();

    // ap init --lang go; ap generate --lang go
    let ap = ap();
    run(
        "ap init",
        Command::new(&ap).args([
            "init", dir_s, "--kind", "Canary", "--group", GROUP, "--lang", "go",
        ]),
    );
    let sdk = repo_root().join("sdk-go");
    run(
        "ap generate",
        Command::new(&ap).args([
            "generate",
            dir_s,
            "--lang",
            "go",
            "--sdk-path",
            sdk.to_str().unwrap(),
        ]),
    );

    // Fill in the handlers; point the operator at no Prometheus and loopback-only ports.
    let worker_dir = dir.join("worker");
    std::fs::write(worker_dir.join("phases/initializing.go"), INITIALIZING).unwrap();
    std::fs::write(worker_dir.join("phases/processing.go"), PROCESSING).unwrap();
    let operator = dir.join("autopilot-operator.yaml");
    // Port 9 (discard) on loopback: refused at once, so each query fails fast; Processing
    // does not read metrics.
    edit(
        &operator,
        "url: http://prometheus.istio-system:9090",
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
    run("ap validate", Command::new(&ap).args(["validate", dir_s]));

    // Test and build the worker, as its README says.
    check_go_module(&worker_dir);
    let binary = worker_dir.join("canary-worker");
    run(
        "go build",
        go("go", &worker_dir)
            .args(["build", "-o"])
            .arg(&binary)
            .arg("."),
    );

    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    let ns = cp.namespace("new-user-go").await.expect("namespace");
    let _dump = DumpOnPanic(&ns);

    // Run the worker and the scheduler.
    let port = free_port();
    let log = dir.join("worker.log");
    let out = std::fs::File::create(&log).unwrap();
    let _worker = WorkerProcess {
        child: Command::new(&binary)
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
