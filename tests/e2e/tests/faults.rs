//! Faults a user meets, against a real kube-apiserver: a worker process killed in the middle of
//! a call, and resources waiting for their first call while others poll on a short requeue.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use autopilot_e2e::project::{self, THREE_PHASES, create_task, task_status};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::wait;
use autopilot_e2e::worker::ScriptedWorker;
use serde_json::Value;

/// Operator settings for these tests: the deadline leaves room for a 3 s call, and the
/// permanent-error interval is long enough that a resource wrongly parked would still be
/// parked when the test gives up.
fn write_operator(dir: &Path, endpoint: &str, concurrency: u16) {
    let operator = format!(
        "workInterval: 10s\nconcurrency: {concurrency}\nworkers:\n  endpoint: {endpoint}\n  deadline: 10s\nretry:\n  initialBackoff: 200ms\n  maxBackoff: 1s\n  permanentErrorInterval: 5m\nmetricsAddr: \"127.0.0.1:0\"\nhealthAddr: \"\"\nlogLevel: info\n"
    );
    std::fs::write(dir.join("autopilot-operator.yaml"), operator).unwrap();
}

/// The scripted worker as a process of its own, its stdout (one line per Sync) in `log`.
struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    fn start(addr: std::net::SocketAddr, log: &Path) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_scripted-worker"))
            .arg(addr.to_string())
            .stdout(Stdio::from(out))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting scripted-worker");
        WorkerProcess { child }
    }

    /// SIGKILL, as the kernel's OOM killer or a node failure would.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::File::open(log)
        .map(|f| BufReader::new(f).lines().map_while(Result::ok).collect())
        .unwrap_or_default()
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

#[tokio::test]
async fn a_worker_killed_mid_call_is_retried_not_blocked() {
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("worker-killed").await.expect("namespace");
    let dir = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let log = dir.path().join("worker.log");
    let mut worker = WorkerProcess::start(addr, &log);
    let endpoint = format!("http://{addr}");
    project::write(dir.path(), THREE_PHASES, &endpoint, "");
    write_operator(dir.path(), &endpoint, 4);
    let scheduler = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), ns.name(), &[]);

    // Sync of Initializing takes 3 s: the worker dies 1.5 s into it and is back 1 s later.
    create_task(&client, ns.name(), "k1", "slow-3s").await;
    let first_call = format!("sync Initializing {}/k1 attempt=1", ns.name());
    wait::until(
        "the first Sync of k1 to reach the worker",
        Duration::from_secs(60),
        || async {
            let seen = lines(&log);
            if seen.contains(&first_call) {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    worker.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _worker = WorkerProcess::start(addr, &log);

    let status = wait::until(
        "k1 to finish after its worker came back (a transport failure is retried)",
        Duration::from_secs(60),
        || async {
            let s = task_status(&client, ns.name(), "k1").await;
            if s["phase"] == "Finished" {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    let progressing = condition(&status, "Progressing")
        .cloned()
        .unwrap_or_default();
    assert_ne!(progressing["reason"], "Blocked", "{status}");
    let again = lines(&log)
        .iter()
        .filter(|l| l.starts_with(&format!("sync Initializing {}/k1 ", ns.name())))
        .count();
    assert!(
        again >= 2,
        "Initializing must have been called again after the kill: {:?}",
        lines(&log)
    );
    let log_text = scheduler.log_text();
    assert!(
        log_text.contains("Unavailable")
            && log_text.contains("the call failed before the worker answered"),
        "the scheduler's log must name the failure as a transport failure:\n{log_text}"
    );
    assert!(
        !log_text.contains("panicked"),
        "the scheduler panicked:\n{log_text}"
    );
}

/// Resources that poll every 300 ms keep the concurrency limit busy; resources created then
/// must get their first call within about one pass over all resources, not after the pollers'
/// repeated turns.
#[tokio::test]
async fn a_first_call_waits_about_one_pass_behind_pollers() {
    const POLLERS: usize = 40;
    const NEWCOMERS: usize = 20;
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("fairness").await.expect("namespace");
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(dir.path(), THREE_PHASES, &endpoint, "");
    // Two at a time: 40 resources asking for a call every 300 ms need more than that.
    write_operator(dir.path(), &endpoint, 2);
    let _scheduler = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), ns.name(), &[]);

    for i in 0..POLLERS {
        create_task(&client, ns.name(), &format!("poller-{i}"), "poll").await;
    }
    let key = |name: &str| format!("{}/{name}", ns.name());
    wait::until(
        "every poller to have been called twice",
        Duration::from_secs(120),
        || async {
            let behind = (0..POLLERS)
                .filter(|i| worker.calls(&key(&format!("poller-{i}"))).len() < 2)
                .count();
            if behind == 0 {
                Ok(())
            } else {
                Err(format!("{behind} pollers called fewer than twice"))
            }
        },
    )
    .await;

    let all_calls = || -> usize {
        worker
            .journal
            .lock()
            .unwrap()
            .values()
            .map(|calls| calls.len())
            .sum()
    };
    let window_start = Instant::now();
    let calls_at_start = all_calls();
    let mut created = Vec::new();
    for i in 0..NEWCOMERS {
        let name = format!("newcomer-{i}");
        created.push((name.clone(), Instant::now()));
        create_task(&client, ns.name(), &name, "poll").await;
    }
    let waits: Vec<Duration> = wait::until(
        "every newcomer's first call",
        Duration::from_secs(180),
        || async {
            let mut waits = Vec::new();
            for (name, at) in &created {
                match worker.calls(&key(name)).first() {
                    Some(call) => waits.push(call.at.saturating_duration_since(*at)),
                    None => return Err(format!("{name} not called yet")),
                }
            }
            Ok(waits)
        },
    )
    .await;
    let window = window_start.elapsed();
    let rate = (all_calls() - calls_at_start) as f64 / window.as_secs_f64();
    // One pass: every resource called once, at the rate the scheduler actually achieved.
    let pass = Duration::from_secs_f64((POLLERS + NEWCOMERS) as f64 / rate);
    let longest = waits.iter().max().copied().unwrap_or_default();
    let mut sorted = waits.clone();
    sorted.sort();
    eprintln!(
        "first-call waits: median {:?}, longest {longest:?}; pass {pass:?} at {rate:.1} calls/s",
        sorted[sorted.len() / 2]
    );
    // First-due first-served bounds the wait by one pass; twice that leaves room for the watch
    // event's own delay on a busy machine.
    assert!(
        longest <= pass * 2,
        "a newcomer waited {longest:?} for its first call; one pass over {} resources takes {pass:?} (waits: {sorted:?})",
        POLLERS + NEWCOMERS
    );
}
