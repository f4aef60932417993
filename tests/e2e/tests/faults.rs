//! Faults a user meets, against a real kube-apiserver: a worker process killed in the middle of
//! a call, resources waiting for their first call while others poll on a short requeue, the
//! API server going away mid-run, and an output kind whose CRD is installed only later.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use autopilot_e2e::project::{self, THREE_PHASES, create_task, task_status};
use autopilot_e2e::scheduler::SchedulerProcess;
use autopilot_e2e::upstream_crds::{self, Upstream};
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

/// Operator settings with the retry timings given, and a permanent-error interval far longer
/// than any wait in these tests.
fn write_operator_with(dir: &Path, endpoint: &str, initial_backoff: &str, max_backoff: &str) {
    let operator = format!(
        "workInterval: 10s\nconcurrency: 8\nworkers:\n  endpoint: {endpoint}\n  deadline: 10s\nretry:\n  initialBackoff: {initial_backoff}\n  maxBackoff: {max_backoff}\n  permanentErrorInterval: 10m\nmetricsAddr: \"127.0.0.1:0\"\nhealthAddr: \"\"\nlogLevel: info\n"
    );
    std::fs::write(dir.join("autopilot-operator.yaml"), operator).unwrap();
}

/// Every Event in `namespace` as `(reason, note)`.
async fn events(client: &kube::Client, namespace: &str) -> Vec<(String, String)> {
    let api: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(client.clone(), namespace);
    api.list(&Default::default())
        .await
        .expect("listing Events")
        .items
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// The scheduler's log lines after the first `skip` bytes, without terminal colours.
fn log_lines_after(text: &str, skip: usize) -> Vec<String> {
    text.get(skip..)
        .unwrap_or_default()
        .lines()
        .map(plain)
        .collect()
}

/// `line` without ANSI colour sequences (`ESC [ ... m`).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// kube-apiserver stopped for a few seconds while resources keep writing outputs: the outage is
/// named (`ApiServerUnavailable`), reported once with a count rather than a line per failed
/// request, nobody blames the worker, and every resource finishes once the API server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_outage_is_named_once_and_not_blamed_on_the_worker() {
    const RESOURCES: usize = 8;
    // A control plane of its own: its API server is stopped.
    let mut cp = autopilot_testenv::ControlPlane::builder()
        .start()
        .await
        .expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let ns = cp.namespace("api-outage").await.expect("namespace");
    let ns_name = ns.name().to_string();
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(dir.path(), THREE_PHASES, &endpoint, "");
    write_operator_with(dir.path(), &endpoint, "200ms", "1s");
    let scheduler = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), &ns_name, &[]);

    for i in 0..RESOURCES {
        create_task(&client, &ns_name, &format!("held-{i}"), "hold").await;
    }
    let key = |i: usize| format!("{ns_name}/held-{i}");
    let total_calls = || -> usize { worker.journal.lock().unwrap().values().map(Vec::len).sum() };
    wait::until(
        "every held resource to have applied its output at least twice",
        Duration::from_secs(120),
        || async {
            let behind = (0..RESOURCES)
                .filter(|i| worker.calls(&key(*i)).len() < 2)
                .count();
            if behind == 0 {
                Ok(())
            } else {
                Err(format!("{behind} resources called fewer than twice"))
            }
        },
    )
    .await;

    let before_outage = scheduler.log_text().len();
    let calls_before = total_calls();
    cp.stop(autopilot_testenv::Component::ApiServer);
    // The resources keep asking to run: each run calls the worker, then fails to apply.
    wait::until(
        "the resources to run while the API server is down",
        Duration::from_secs(60),
        || async {
            let during = total_calls() - calls_before;
            if during >= 2 * RESOURCES {
                Ok(())
            } else {
                Err(format!(
                    "{during} worker calls since the API server stopped"
                ))
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls_during = total_calls() - calls_before;
    cp.start_again(autopilot_testenv::Component::ApiServer)
        .await
        .expect("kube-apiserver starts again");
    worker
        .released
        .store(true, std::sync::atomic::Ordering::SeqCst);

    let client = cp.client();
    for i in 0..RESOURCES {
        let name = format!("held-{i}");
        let status = wait::until(
            &format!("{name} to finish after the outage"),
            Duration::from_secs(120),
            || async {
                let s = task_status(&client, &ns_name, &name).await;
                if s["phase"] == "Finished" {
                    Ok(s)
                } else {
                    Err(s.to_string())
                }
            },
        )
        .await;
        let worker_error = condition(&status, "WorkerError")
            .cloned()
            .unwrap_or_default();
        assert_eq!(worker_error["status"], "False", "{name}: {status}");
    }
    // The outage ends in the log once a request is answered (the resources' status writes).
    let text = wait::until(
        "the scheduler to log that the API server answers again",
        Duration::from_secs(60),
        || async {
            let text = scheduler.log_text();
            if log_lines_after(&text, before_outage)
                .iter()
                .any(|l| l.contains("the API server answers again"))
            {
                Ok(text)
            } else {
                Err(text)
            }
        },
    )
    .await;
    let after = log_lines_after(&text, before_outage);
    let began: Vec<&String> = after
        .iter()
        .filter(|l| l.contains("the API server is unavailable"))
        .collect();
    let ended: Vec<&String> = after
        .iter()
        .filter(|l| l.contains("the API server answers again"))
        .collect();
    let failed_requests: u64 = ended
        .iter()
        .filter_map(|l| {
            l.split("failed_requests=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let complaints = after
        .iter()
        .filter(|l| l.contains(" WARN ") || l.contains("ERROR "))
        .count();
    eprintln!(
        "outage: {calls_during} worker calls while down; {} outage reports, {} ends, {failed_requests} failed requests counted, {complaints} WARN/ERROR lines after the stop",
        began.len(),
        ended.len()
    );
    // One outage, reported when it began; a restart that answers some probes before it serves
    // everything may split it, never into a line per request.
    assert!(
        !began.is_empty() && began.len() <= 3,
        "the outage must be reported once (or a few times), not per request:\n{}",
        after.join("\n")
    );
    assert!(
        began.iter().all(|l| l.contains("ApiServerUnavailable")),
        "the outage must be named ApiServerUnavailable:\n{}",
        began
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        failed_requests >= calls_during as u64,
        "every run during the outage failed a request that must be counted (counted {failed_requests}, runs {calls_during}):\n{}",
        after.join("\n")
    );
    assert!(
        complaints <= 2 * began.len() + 4,
        "too many WARN/ERROR lines for one outage:\n{}",
        after.join("\n")
    );
    for blame in ["OutputRejected", "worker response not applied", "panicked"] {
        assert!(
            !text.contains(blame),
            "the scheduler's log says {blame:?}:\n{text}"
        );
    }
    let recorded = events(&client, &ns_name).await;
    assert!(
        recorded
            .iter()
            .all(|(reason, _)| reason != "OutputRejected" && reason != "ApiServerUnavailable"),
        "no Event may blame the worker or record a failure nobody could write: {recorded:?}"
    );
}

/// The operator's three phases, Initializing also writing Istio VirtualServices.
fn with_virtualservices() -> String {
    THREE_PHASES.replacen(
        "    outputs: [configmaps]\n",
        "    outputs: [configmaps, virtualservices]\n",
        1,
    )
}

/// A phase writing a kind whose CRD is not installed is told so by name and retried — not
/// blocked for `permanentErrorInterval` — and runs again as soon as the CRD is installed,
/// without waiting out its backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_kind_not_installed_is_named_and_runs_once_its_crd_is() {
    // The shared control plane: no other test of this binary uses Istio's kinds, and this one
    // is the only one to install them.
    let cp = autopilot_testenv::shared().await.expect("control plane");
    let client = cp.client();
    project::install_crd(&client).await;
    let crds: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(client.clone());
    assert!(
        crds.get_opt("virtualservices.networking.istio.io")
            .await
            .expect("reading CRDs")
            .is_none(),
        "the test needs a control plane without Istio's CRDs"
    );
    let ns = cp.namespace("kind-not-installed").await.expect("namespace");
    let worker = ScriptedWorker::default();
    let (endpoint, _) = worker.serve().await;
    let dir = tempfile::tempdir().unwrap();
    project::write(dir.path(), &with_virtualservices(), &endpoint, "");
    // Backoff as long as the permanent-error interval: finishing within the test's wait shows
    // the resource was run again because the kind appeared, not because a retry came due.
    write_operator_with(dir.path(), &endpoint, "10m", "10m");
    let scheduler = SchedulerProcess::start(dir.path(), cp.kubeconfig_path(), ns.name(), &[]);

    create_task(&client, ns.name(), "routed", "virtualservice").await;
    let status = wait::until(
        "routed's status to name the kind that is not installed",
        Duration::from_secs(90),
        || async {
            let s = task_status(&client, ns.name(), "routed").await;
            let named = condition(&s, "WorkerError")
                .is_some_and(|c| c["reason"] == "OutputKindNotInstalled");
            if named { Ok(s) } else { Err(s.to_string()) }
        },
    )
    .await;
    let error = condition(&status, "WorkerError")
        .cloned()
        .unwrap_or_default();
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("virtualservices.networking.istio.io is not served by the API server"),
        "{status}"
    );
    let progressing = condition(&status, "Progressing")
        .cloned()
        .unwrap_or_default();
    assert_eq!(progressing["status"], "True", "{status}");
    assert_eq!(
        progressing["reason"], "Retrying",
        "a kind not installed yet is retried, not blocked: {status}"
    );
    assert_ne!(status["phase"], "Processing", "{status}");
    let recorded = events(&client, ns.name()).await;
    assert!(
        recorded
            .iter()
            .any(|(reason, note)| reason == "OutputKindNotInstalled"
                && note.contains("virtualservices.networking.istio.io")),
        "an Event names the missing kind: {recorded:?}"
    );

    upstream_crds::install(&client, Upstream::Istio).await;
    let status = wait::until(
        "routed to finish once the VirtualService CRD is installed (its backoff is 10 minutes)",
        Duration::from_secs(90),
        || async {
            let s = task_status(&client, ns.name(), "routed").await;
            if s["phase"] == "Finished" {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    let vs = kube::Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        ns.name(),
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"),
            "virtualservices",
        ),
    );
    assert!(
        vs.get_opt("routed")
            .await
            .expect("reading VirtualServices")
            .is_some(),
        "the VirtualService was applied: {status}"
    );
    let log = scheduler.log_text();
    assert!(
        log.contains("an output kind is served now"),
        "the scheduler ran the resource again because the kind appeared:\n{log}"
    );
}
