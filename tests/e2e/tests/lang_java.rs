//! The Java worker path: the golden generated project, its Maven build and JUnit tests, and a new
//! user's first Java operator — `ap init --lang java`, `ap generate`, two handlers filled in — run
//! against the scheduler until its example resource reaches its final phase.
//!
//! Needs JDK 17 and Maven (installed by `hack/deps/java.sh`) and the `ap` binary beside this test
//! binary (`cargo build --workspace --all-targets` builds it).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

/// The CR's API group of the new-user test: unique to this suite, as CRDs are cluster-wide.
const GROUP: &str = "newuser-java.e2e.autopilot.dev";
/// Where `ap generate` puts the phase handlers of [`GROUP`]: its Java package is the group
/// reversed, `dev.autopilot.e2e.newuser_java`.
const PHASES_DIR: &str = "src/main/java/dev/autopilot/e2e/newuser_java/phases";
/// Scheduling and phase moves happen within this once the worker is built.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// The Initializing handler a user writes: route all traffic of the target to it, move on.
const INITIALIZING: &str = r#"package dev.autopilot.e2e.newuser_java.phases;

import dev.autopilot.e2e.newuser_java.model.Spec;
import dev.autopilot.e2e.newuser_java.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Outcome;
import dev.autopilot.sdk.WorkerException;
import dev.autopilot.sdk.outputs.Outputs;
import dev.autopilot.sdk.outputs.VirtualService.Destination;

/** Initializing: routes every request for the target to its stable subset, then starts shifting. */
public final class Initializing {
  private Initializing() {}

  /** Returns the target's VirtualService and moves on to Processing. */
  public static Outcome<StatusInfo> handle(Context<Spec, StatusInfo> ctx) throws WorkerException {
    String target = ctx.spec().target();
    return Outcome.<StatusInfo>next("Processing")
        .output(
            Outputs.virtualService(target)
                .route(Destination.of(target).subset("stable").port(80).weight(100)))
        .statusInfo(new StatusInfo(0L))
        .eventNormal("Routed", "VirtualService " + target + " created");
  }
}
"#;

/// The Processing handler: finish once the VirtualService shows up among the inputs.
const PROCESSING: &str = r#"package dev.autopilot.e2e.newuser_java.phases;

import com.fasterxml.jackson.databind.JsonNode;
import dev.autopilot.e2e.newuser_java.model.Spec;
import dev.autopilot.e2e.newuser_java.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Outcome;
import dev.autopilot.sdk.WorkerException;

/** Processing: done once the scheduler reports the target's VirtualService as an input. */
public final class Processing {
  private Processing() {}

  /** Moves to Finished when the target's VirtualService exists, else stays. */
  public static Outcome<StatusInfo> handle(Context<Spec, StatusInfo> ctx) throws WorkerException {
    String target = ctx.spec().target();
    for (JsonNode vs : ctx.objects("virtualservices")) {
      if (target.equals(vs.path("metadata").path("name").asText())) {
        return Outcome.<StatusInfo>next("Finished").statusInfo(new StatusInfo(100L));
      }
    }
    return Outcome.stay();
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

/// The `ap` binary beside this test binary (`target/<profile>/ap`).
fn ap() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/ap
    let ap = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("ap");
    assert!(
        ap.exists(),
        "{} is missing: build it first with `cargo build -p autopilot-cli`",
        ap.display()
    );
    ap
}

fn run(what: &str, command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{text}",
        output.status
    );
    text
}

/// JDK, Maven and the SDK in the cache's Maven repository, installed by the deps script.
fn java_toolchain() -> PathBuf {
    for tool in ["java", "mvn"] {
        let found = Command::new(tool).arg("-version").output().is_ok();
        assert!(
            found,
            "`{tool}` is not installed: run hack/deps/java.sh (JDK 17 and Maven)"
        );
    }
    run(
        "hack/deps/java.sh (JDK, Maven, the Java SDK in the local Maven repository)",
        Command::new("bash").arg(repo_root().join("hack/deps/java.sh")),
    );
    let cache = std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/autopilot")
        });
    cache.join("m2")
}

/// `mvn <goals>` in `dir`: offline first, online only when something was never resolved.
fn mvn(dir: &Path, repo: &Path, goals: &[&str]) -> String {
    let command = |offline: bool| {
        let mut c = Command::new("mvn");
        c.current_dir(dir)
            .args(["-B", "-Dstyle.color=never"])
            .arg(format!("-Dmaven.repo.local={}", repo.display()));
        if offline {
            c.arg("-o");
        }
        c.args(goals);
        c
    };
    match command(true).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => run(
            &format!("mvn {} in {}", goals.join(" "), dir.display()),
            &mut command(false),
        ),
    }
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).expect("under base");
                out.insert(
                    rel.to_string_lossy().into_owned(),
                    fs::read(&path).expect("read"),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let path = to.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, bytes).expect("write");
    }
}

#[test]
fn golden_java_project_is_regenerated_byte_for_byte() {
    let out = tempfile::tempdir().expect("temp dir");
    run(
        "tests/golden/regenerate-java.sh",
        Command::new("bash")
            .arg(repo_root().join("tests/golden/regenerate-java.sh"))
            .arg(out.path())
            .env("AP", ap()),
    );
    let golden = tree(&repo_root().join("tests/golden/java"));
    let fresh = tree(out.path());
    let golden_paths: Vec<_> = golden.keys().collect();
    let fresh_paths: Vec<_> = fresh.keys().collect();
    assert_eq!(
        fresh_paths, golden_paths,
        "the generated files differ from tests/golden/java: run tests/golden/regenerate-java.sh"
    );
    for (path, bytes) in &golden {
        assert!(
            fresh[path] == *bytes,
            "{path} differs from tests/golden/java: run tests/golden/regenerate-java.sh\n--- generated:\n{}",
            String::from_utf8_lossy(&fresh[path])
        );
    }
}

#[test]
fn golden_java_worker_builds_and_its_tests_pass() {
    let repo = java_toolchain();
    let work = tempfile::tempdir().expect("temp dir");
    copy_tree(&repo_root().join("tests/golden/java/worker"), work.path());
    mvn(work.path(), &repo, &["-q", "verify"]);
    let report = fs::read_to_string(
        work.path()
            .join("target/surefire-reports/com.example.canary.phases.InitializingTest.txt"),
    )
    .expect("surefire report of InitializingTest");
    assert!(
        report.contains("Tests run: 1, Failures: 0, Errors: 0"),
        "{report}"
    );
    assert!(work.path().join("target/canary-worker.jar").exists());
    assert!(work.path().join("target/lib").is_dir());
}

/// A port nothing listens on right now, for the worker.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// Replaces `from` with `to` in `path`, which must contain it.
fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).expect("read");
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    fs::write(path, text.replacen(from, to, 1)).expect("write");
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
            eprintln!("{}", fs::read_to_string(&self.log).unwrap_or_default());
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
async fn new_user_builds_and_runs_a_java_operator() {
    let repo = java_toolchain();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("myop");
    let dir_s = dir.to_str().expect("UTF-8 temp path");

    // ap init --lang java; ap generate --lang java (the pom depends on the SDK by version,
    // resolved from the local Maven repository that hack/deps/java.sh fills).
    let ap = ap();
    run(
        "ap init",
        Command::new(&ap).args([
            "init", dir_s, "--kind", "Canary", "--group", GROUP, "--lang", "java",
        ]),
    );
    run(
        "ap generate",
        Command::new(&ap).args(["generate", dir_s, "--lang", "java"]),
    );

    // Fill in the handlers; point the operator at no Prometheus and loopback-only ports.
    let worker_dir = dir.join("worker");
    let phases = worker_dir.join(PHASES_DIR);
    fs::write(phases.join("Initializing.java"), INITIALIZING).expect("write Initializing.java");
    fs::write(phases.join("Processing.java"), PROCESSING).expect("write Processing.java");
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
    mvn(&worker_dir, &repo, &["-q", "verify"]);
    let jar = worker_dir.join("target/canary-worker.jar");
    assert!(jar.exists(), "mvn verify built no {}", jar.display());

    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    let ns = cp.namespace("new-user-java").await.expect("namespace");
    let _dump = DumpOnPanic(&ns);

    // Run the worker and the scheduler.
    let port = free_port();
    let log = dir.join("worker.log");
    let out = fs::File::create(&log).expect("create the worker log");
    let _worker = WorkerProcess {
        child: Command::new("java")
            .arg("-jar")
            .arg(&jar)
            .env("AUTOPILOT_WORKER_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::from(out.try_clone().expect("clone the log handle")))
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
    fs::write(&vs_crd, VIRTUAL_SERVICE_CRD).expect("write the VirtualService CRD");
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

    let canary = canaries
        .get("example-canary")
        .await
        .expect("the example Canary");
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
