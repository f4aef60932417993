//! TypeScript workers: the SDK's own tests, the golden generated project (current, builds,
//! passes `tsc --strict` and its tests), the conformance worker's tests, and a new user's path
//! from `ap init` to a resource reaching its final phase with a TypeScript worker.
//!
//! Needs node and npm (`hack/deps/typescript.sh` installs them); npm's cache lives under
//! `$AUTOPILOT_CACHE/npm`.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;

/// Bound of reaching the final phase: about ten worker calls, each requeued after 100 ms, plus
/// the scheduler's start-up.
const FINAL_PHASE_TIMEOUT: Duration = Duration::from_secs(120);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cache() -> PathBuf {
    std::env::var_os("AUTOPILOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/autopilot")
        })
}

/// Runs `program args` in `dir` with npm's cache outside the repository; panics with the whole
/// output when it fails, or with how to install the tool when it is missing.
fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("npm_config_cache", cache().join("npm"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program} ({e}); TypeScript workers need node and npm: run hack/deps/typescript.sh"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "`{program} {}` in {} failed ({}):\n{text}",
        args.join(" "),
        dir.display(),
        output.status
    );
    text
}

/// The SDK installed and compiled (once per test process; the script itself locks).
fn sdk_built() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let sdk = root().join("sdk-typescript");
        run(&sdk, "bash", &["scripts/build.sh"]);
    });
}

/// Path of the `ap` binary beside the test binary, brought up to date once per test process.
fn ap() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            // target/<profile>/deps/<test> -> target/<profile>/ap
            let dir = exe.parent().and_then(Path::parent).expect("target dir");
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "autopilot-cli", "--bin", "ap"])
                .status()
                .expect("running cargo build");
            assert!(status.success(), "building ap");
            dir.join("ap")
        })
        .clone()
}

/// Every file under `dir` (relative paths, sorted), skipping npm's and tsc's output.
fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("reading a golden directory") {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().unwrap_or_default();
            if path.is_dir() {
                if name != "node_modules" && name != "dist" {
                    walk(base, &path, out);
                }
            } else {
                out.push(path.strip_prefix(base).expect("under base").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn sdk_ships_the_contract_and_passes_its_tests() {
    let shipped = root().join("sdk-typescript/proto/autopilot/worker/v1/worker.proto");
    let contract = root().join("proto/autopilot/worker/v1/worker.proto");
    assert_eq!(
        std::fs::read_to_string(&shipped).expect("the SDK ships worker.proto"),
        std::fs::read_to_string(&contract).expect("the contract"),
        "{} must be a copy of {}",
        shipped.display(),
        contract.display()
    );
    sdk_built();
    let sdk = root().join("sdk-typescript");
    let out = run(&sdk, "npm", &["test"]);
    assert!(out.contains("# fail 0"), "{out}");
}

#[test]
fn golden_project_is_current() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("typescript");
    let script = root().join("tests/golden/regenerate-typescript.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .env("AP", ap())
        .output()
        .expect("running regenerate-typescript.sh");
    assert!(
        output.status.success(),
        "regenerate-typescript.sh failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let golden = root().join("tests/golden/typescript");
    let (want, got) = (tree(&golden), tree(&out));
    assert_eq!(
        got, want,
        "the generated file list differs from tests/golden/typescript; run tests/golden/regenerate-typescript.sh"
    );
    for file in want {
        let expected = std::fs::read(golden.join(&file)).expect("golden file");
        let actual = std::fs::read(out.join(&file)).expect("generated file");
        assert!(
            expected == actual,
            "{} differs from the golden copy; run tests/golden/regenerate-typescript.sh:\n{}",
            file.display(),
            String::from_utf8_lossy(&actual)
        );
    }
}

#[test]
fn golden_worker_builds_and_passes_its_tests() {
    sdk_built();
    let worker = root().join("tests/golden/typescript/worker");
    run(
        &worker,
        "npm",
        &["ci", "--no-audit", "--no-fund", "--prefer-offline"],
    );
    run(
        &worker,
        "npx",
        &["--no-install", "tsc", "--strict", "--noEmit"],
    );
    let out = run(&worker, "npm", &["test"]);
    assert!(
        out.contains("# pass 1") && out.contains("# fail 0"),
        "{out}"
    );
}

#[test]
fn conformance_worker_passes_its_tests() {
    let dir = root().join("tests/conformance/workers/typescript");
    run(&dir, "bash", &["build.sh"]);
    let worker = dir.join("worker");
    run(
        &worker,
        "npx",
        &["--no-install", "tsc", "--strict", "--noEmit"],
    );
    let out = run(&worker, "node", &["--test", "dist/test/"]);
    assert!(
        out.contains("# pass 3") && out.contains("# fail 0"),
        "{out}"
    );
}

/// Handlers a new user might write for the `ap init` project: Initializing starts at weight 0,
/// Processing adds stepWeight until 100 and then moves to Finished.
const INITIALIZING_TS: &str = r#"import { Context, Outcome } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "../model";

export async function initializing(ctx: Context<Spec, StatusInfo>): Promise<Outcome<StatusInfo>> {
  return Outcome.next<StatusInfo>("Processing")
    .status({ weight: 0 })
    .eventNormal("Started", `shifting traffic to ${ctx.spec.target}`);
}
"#;

const PROCESSING_TS: &str = r#"import { Context, Outcome } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "../model";

export async function processing(ctx: Context<Spec, StatusInfo>): Promise<Outcome<StatusInfo>> {
  const weight = Math.min(100, (ctx.statusInfo?.weight ?? 0) + (ctx.spec.stepWeight ?? 10));
  if (weight >= 100) {
    return Outcome.next<StatusInfo>("Finished").status({ weight }).eventNormal("Promoted", "all traffic shifted");
  }
  return Outcome.stay<StatusInfo>().status({ weight }).requeueAfter(100);
}
"#;

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .map_err(|e| format!("running kubectl: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_user_path_reaches_the_final_phase() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let project = tmp.path().join("canary");
    let project_arg = project.to_str().expect("UTF-8 temp path");
    let ap = ap();
    run(
        tmp.path(),
        ap.to_str().expect("UTF-8 path"),
        &[
            "init",
            project_arg,
            "--kind",
            "Canary",
            "--group",
            "canary.example.com",
        ],
    );
    let yaml = project.join("autopilot.yaml");
    let mut text = std::fs::read_to_string(&yaml).expect("autopilot.yaml");
    text.push_str("\nworkers:\n  - name: canary-operator\n    language: typescript\n");
    std::fs::write(&yaml, text).expect("writing autopilot.yaml");
    let sdk = root()
        .join("sdk-typescript")
        .canonicalize()
        .expect("sdk-typescript exists");
    run(
        tmp.path(),
        ap.to_str().expect("UTF-8 path"),
        &[
            "generate",
            project_arg,
            "--lang",
            "typescript",
            "--sdk-path",
            sdk.to_str().expect("UTF-8 path"),
        ],
    );
    let worker = project.join("worker");
    std::fs::write(worker.join("src/phases/initializing.ts"), INITIALIZING_TS).unwrap();
    std::fs::write(worker.join("src/phases/processing.ts"), PROCESSING_TS).unwrap();
    sdk_built();
    // With the SDK at an absolute path no lock is generated: npm writes it on first install.
    run(
        &worker,
        "npm",
        &["install", "--no-audit", "--no-fund", "--prefer-offline"],
    );
    run(&worker, "npm", &["test"]);

    let cp = autopilot_testenv::shared().await.expect("control plane");
    let ns = cp.namespace("ts-newuser").await.expect("namespace");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let worker_log = project.join("worker.log");
    let log = std::fs::File::create(&worker_log).expect("worker log");
    let _worker = tokio::process::Command::new("node")
        .arg("dist/src/main.js")
        .current_dir(&worker)
        .env("AUTOPILOT_WORKER_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("starting the TypeScript worker");
    std::fs::write(
        project.join("autopilot-operator.yaml"),
        format!(
            "workInterval: 1s\nworkers:\n  endpoint: http://127.0.0.1:{port}\n  deadline: 5s\n\
             retry:\n  initialBackoff: 100ms\n  maxBackoff: 1s\n\
             prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1s\n\
             metricsAddr: \"127.0.0.1:0\"\nhealthAddr: \"\"\n"
        ),
    )
    .expect("writing autopilot-operator.yaml");

    let kubeconfig = cp.kubeconfig_path().to_path_buf();
    let crd = project.join("deploy/crd.yaml");
    kubectl(&kubeconfig, &["apply", "-f", crd.to_str().unwrap()]).expect("applying the CRD");
    kubectl(
        &kubeconfig,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "-f",
            crd.to_str().unwrap(),
        ],
    )
    .expect("the CRD to be established");
    let scheduler = SchedulerProcess::start(&project, &kubeconfig, ns.name(), &[]);
    let example = project.join("deploy/example.yaml");
    kubectl(
        &kubeconfig,
        &["apply", "-n", ns.name(), "-f", example.to_str().unwrap()],
    )
    .expect("applying the example Canary");

    let status = wait::until(
        &format!(
            "the example Canary in {} to reach phase Finished",
            ns.name()
        ),
        FINAL_PHASE_TIMEOUT,
        || async {
            let out = kubectl(
                &kubeconfig,
                &[
                    "get",
                    "canaries",
                    "-n",
                    ns.name(),
                    "-o",
                    "jsonpath={.items[0].status}",
                ],
            )?;
            let status: serde_json::Value = serde_json::from_str(&out).map_err(|_| out.clone())?;
            if status["phase"] == "Finished" {
                Ok(status)
            } else {
                Err(format!(
                    "{out}\n{}\nworker log:\n{}",
                    scheduler.log_text(),
                    std::fs::read_to_string(&worker_log).unwrap_or_default()
                ))
            }
        },
    )
    .await;
    assert_eq!(status["statusInfo"]["weight"], 100, "{status}");
}
