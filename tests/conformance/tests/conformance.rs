//! The conformance suite against every language's worker, one test per language, each run as
//! a user runs it: `autopilot-conformance --worker-cmd workers/<lang>/run.sh`, on the shared
//! control plane. A language whose `run.sh` does not exist yet is reported as skipped.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Bound of one whole run: a first run of a worker may build it (Maven, npm, Go modules).
const RUN_TIMEOUT: Duration = Duration::from_secs(20 * 60);

fn workers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workers")
}

async fn conformance(language: &str) {
    let run_sh = workers_dir().join(language).join("run.sh");
    if !run_sh.exists() {
        // Straight to stderr, past libtest's capture, so the skip shows in every test log.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {language} conformance: no {} yet",
            run_sh.display()
        );
        return;
    }
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_autopilot-conformance"));
    command
        .arg("--worker-cmd")
        .arg(&run_sh)
        .arg("--kubeconfig")
        .arg(cp.kubeconfig_path())
        .arg("--namespace-prefix")
        .arg(format!("conformance-{language}"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if language == "rust" {
        // The binary cargo just built for this test, so run.sh does not run cargo itself.
        command.env(
            "AUTOPILOT_CONFORMANCE_RUST_WORKER",
            env!("CARGO_BIN_EXE_autopilot-conformance-worker-rust"),
        );
    }
    let output = tokio::time::timeout(RUN_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| {
            panic!("timed out after {RUN_TIMEOUT:?} waiting for the {language} conformance run")
        })
        .expect("running autopilot-conformance");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the {language} worker is not conformant ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for check in [
        "describe",
        "happy-path",
        "retryable-error",
        "permanent-error",
        "finalize",
    ] {
        assert!(
            stdout.lines().any(|l| l == format!("PASS {check}")),
            "check {check} did not pass for {language}:\n{stdout}\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_worker_is_conformant() {
    assert!(
        workers_dir().join("rust/run.sh").exists(),
        "the Rust reference worker's run.sh must exist"
    );
    conformance("rust").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_worker_is_conformant() {
    conformance("go").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_worker_is_conformant() {
    conformance("python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_worker_is_conformant() {
    conformance("typescript").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_worker_is_conformant() {
    conformance("java").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_command_that_exits_fails_the_run_with_its_log() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_autopilot-conformance"))
            .args([
                "--worker-cmd",
                "echo no worker here; exit 3",
                "--kubeconfig",
            ])
            .arg(cp.kubeconfig_path())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the run to give up on an exited worker within 120s")
    .expect("running autopilot-conformance");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the worker command exited") && stderr.contains("no worker here"),
        "the reason and the worker's output are shown:\n{stderr}"
    );
}
