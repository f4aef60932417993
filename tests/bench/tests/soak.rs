//! The small chaos soak in CI: `autopilot-soak --small` (100 resources, leader, worker,
//! kube-apiserver and etcd faults within 40 s) must end with every resource final, nothing
//! skipped, repeated, missing or orphaned, and no panic.
use std::process::Command;
use std::time::{Duration, Instant};

/// The small soak converges in about a minute on an idle 2-core machine; this leaves room for a
/// loaded one and still ends a hung run.
const SOAK_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn small_soak_passes_every_check() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_autopilot-soak"))
        .args(["--small", "--scheduler-bin", "self"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting autopilot-soak --small");
    let started = Instant::now();
    while child.try_wait().expect("polling autopilot-soak").is_none() {
        if started.elapsed() > SOAK_TIMEOUT {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collecting output");
            panic!(
                "autopilot-soak --small did not finish within {SOAK_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("collecting output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the soak failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for row in [
        "| resources in Done | 100 / 100 |",
        "| transitions skipped / applied twice | 0 / 0 |",
        "| outputs missing / extra / orphaned | 0 / 0 / 0 |",
        "| panics | 0 |",
        "| kube-apiserver restarts",
        "| etcd restarts",
    ] {
        assert!(stdout.contains(row), "no {row:?} in:\n{stdout}");
    }
    eprintln!("{stdout}");
}
