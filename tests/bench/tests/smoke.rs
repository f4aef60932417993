//! Runs `autopilot-bench --smoke` so CI keeps the benchmark harness working. It asserts that
//! every benchmark ran and printed its table, never what the numbers are.
use std::process::Command;
use std::time::{Duration, Instant};

/// Well under CI's patience; the smoke run takes a fraction of it on an idle machine.
const SMOKE_TIMEOUT: Duration = Duration::from_secs(110);

#[test]
fn smoke_run_prints_every_table() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_autopilot-bench"))
        .args(["--smoke", "--scheduler-bin", "self"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting autopilot-bench --smoke");
    let started = Instant::now();
    while child.try_wait().expect("polling autopilot-bench").is_none() {
        if started.elapsed() > SMOKE_TIMEOUT {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collecting output");
            panic!(
                "autopilot-bench --smoke did not finish within {SMOKE_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
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
        "autopilot-bench --smoke failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for title in [
        "### Worker call",
        "### Reconcile throughput",
        "### Scheduler memory",
        "### Trace input per reconcile",
    ] {
        assert!(stdout.contains(title), "no {title:?} table in:\n{stdout}");
    }
    // Every worker-call case: 2 transports × 2 concurrencies × 2 sizes.
    let rows = stdout
        .lines()
        .filter(|l| l.starts_with("| tcp loopback") || l.starts_with("| unix socket"))
        .count();
    assert_eq!(rows, 8, "worker-call rows in:\n{stdout}");
}
