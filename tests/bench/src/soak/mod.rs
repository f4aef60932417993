//! The chaos soak: many resources through a multi-phase operator while the scheduler's leader
//! is SIGKILLed every few seconds (two replicas, so each kill is a leader failover), workers are
//! SIGKILLed in the middle of calls, and kube-apiserver and etcd are each restarted once; then
//! every resource's end state is checked ([`check`]) and the figures reported ([`Report`]).
//!
//! Run by `hack/soak.sh` (the `autopilot-soak` binary); a small variant runs in CI
//! (`tests/soak.rs`).
pub mod check;
pub mod operator;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use autopilot_testenv::{Component, ControlPlane};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::scheduler_process::SchedulerBinary;
use check::{Final, Findings, LoggedCall, Output};
use operator::{CallLine, FINAL};

/// What to run and which faults to inject.
#[derive(Debug, Clone)]
pub struct Options {
    /// Resources created at the start.
    pub resources: usize,
    /// Faults are injected for at most this long (less when every resource is done sooner).
    pub fault_window: Duration,
    /// The leader is SIGKILLed (and started again as a standby) this often.
    pub scheduler_kill_every: Duration,
    /// A worker process is SIGKILLed (and started again half a second later) this often.
    pub worker_kill_every: Duration,
    /// How long kube-apiserver stays down, once, a quarter into the fault window.
    pub apiserver_outage: Duration,
    /// How long etcd stays down, once, half-way into the fault window.
    pub etcd_outage: Duration,
    /// The scheduler's `concurrency`.
    pub concurrency: u16,
    /// How long every resource may take to finish after the last fault.
    pub converge_timeout: Duration,
}

impl Options {
    /// The published soak: 1,000 resources.
    pub fn full() -> Self {
        Options {
            resources: 1_000,
            fault_window: Duration::from_secs(120),
            scheduler_kill_every: Duration::from_secs(10),
            worker_kill_every: Duration::from_secs(3),
            apiserver_outage: Duration::from_secs(7),
            etcd_outage: Duration::from_secs(5),
            concurrency: 16,
            converge_timeout: Duration::from_secs(600),
        }
    }

    /// The CI variant: 100 resources, a 40 s fault window.
    pub fn small() -> Self {
        Options {
            resources: 100,
            fault_window: Duration::from_secs(40),
            converge_timeout: Duration::from_secs(120),
            ..Self::full()
        }
    }
}

/// How many faults of each kind were injected.
#[derive(Debug, Clone, Default)]
pub struct Injected {
    /// Leader SIGKILLs.
    pub leader_kills: usize,
    /// Kills after which the other replica took the lease.
    pub failovers: usize,
    /// Worker SIGKILLs.
    pub worker_kills: usize,
    /// Calls that were in flight in a killed worker (logged as arrived, never answered).
    pub calls_cut: usize,
    /// kube-apiserver restarts.
    pub apiserver_restarts: usize,
    /// etcd restarts.
    pub etcd_restarts: usize,
}

/// The soak's figures and findings.
#[derive(Debug, Clone)]
pub struct Report {
    /// The options run.
    pub options: Options,
    /// Faults injected.
    pub injected: Injected,
    /// Resources in the final phase at the end.
    pub finished: usize,
    /// Sync calls the workers logged.
    pub calls: usize,
    /// From the first resource created to the last fault.
    pub fault_time: Duration,
    /// From the last fault to every resource final (`None`: not within the timeout).
    pub converged_after_last_fault: Option<Duration>,
    /// From the first resource created to every resource final.
    pub total: Option<Duration>,
    /// Lines with "panicked" in the schedulers' and workers' logs.
    pub panics: Vec<String>,
    /// What the end-state checks found.
    pub findings: Findings,
    /// Where the logs are, when they were kept.
    pub logs: PathBuf,
}

impl Report {
    /// True when every resource finished, nothing was found and nothing panicked.
    pub fn passed(&self) -> bool {
        self.finished == self.options.resources
            && self.findings.is_clean()
            && self.panics.is_empty()
            && self.converged_after_last_fault.is_some()
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.injected;
        let o = &self.options;
        let fd = &self.findings;
        writeln!(f, "### Chaos soak\n")?;
        writeln!(f, "| measure | value |\n|---|---|")?;
        let rows: Vec<(String, String)> = vec![
            ("resources".into(), o.resources.to_string()),
            (
                "leader SIGKILLs (every ~{}) / failovers seen".replace(
                    "{}",
                    &humantime::format_duration(o.scheduler_kill_every).to_string(),
                ),
                format!("{} / {}", i.leader_kills, i.failovers),
            ),
            (
                "worker SIGKILLs / calls cut mid-flight".into(),
                format!("{} / {}", i.worker_kills, i.calls_cut),
            ),
            (
                "kube-apiserver restarts (outage)".into(),
                format!("{} ({})", i.apiserver_restarts, secs(o.apiserver_outage)),
            ),
            (
                "etcd restarts (outage)".into(),
                format!("{} ({})", i.etcd_restarts, secs(o.etcd_outage)),
            ),
            (
                format!("resources in {FINAL}"),
                format!("{} / {}", self.finished, o.resources),
            ),
            ("Sync calls".into(), self.calls.to_string()),
            (
                "transitions skipped / applied twice".into(),
                format!("{} / {}", fd.skipped.len(), fd.duplicated.len()),
            ),
            (
                "phase order violations (worker log)".into(),
                fd.out_of_order.len().to_string(),
            ),
            (
                "outputs missing / extra / orphaned".into(),
                format!(
                    "{} / {} / {}",
                    fd.missing_outputs.len(),
                    fd.extra_outputs.len(),
                    fd.orphaned_outputs.len()
                ),
            ),
            ("panics".into(), self.panics.len().to_string()),
            ("fault window".into(), secs(self.fault_time)),
            (
                "converged after the last fault".into(),
                self.converged_after_last_fault
                    .map_or("not within the timeout".into(), secs),
            ),
            (
                "total, first create to all final".into(),
                self.total.map_or("-".into(), secs),
            ),
        ];
        for (k, v) in rows {
            writeln!(f, "| {k} | {v} |")?;
        }
        if !self.findings.is_clean() || !self.panics.is_empty() {
            writeln!(f, "\nfindings: {:#?}", self.findings)?;
            for p in self.panics.iter().take(10) {
                writeln!(f, "panic: {p}")?;
            }
        }
        writeln!(f, "\nlogs: {}", self.logs.display())
    }
}

/// A worker process (the soak binary's `run-worker` mode) on a fixed address, restartable.
struct WorkerSlot {
    address: String,
    log: PathBuf,
    child: Option<Child>,
}

impl WorkerSlot {
    fn start(&mut self) -> anyhow::Result<()> {
        let child = Command::new(std::env::current_exe()?)
            .args(["run-worker", &self.address])
            .arg(&self.log)
            .stdout(Stdio::null())
            .stderr(Stdio::from(append(&self.log.with_extension("stderr"))?))
            .kill_on_drop(true)
            .spawn()
            .context("starting a soak worker")?;
        self.child = Some(child);
        Ok(())
    }

    async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }
}

/// A scheduler replica, restartable, its output appended to one log.
struct Replica {
    instance: &'static str,
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    fn start(&mut self, binary: &SchedulerBinary, dir: &Path, kubeconfig: &Path, ns: &str) {
        let out = append(&self.log).expect("opening the scheduler log");
        let child = binary
            .command()
            .expect("the scheduler command")
            .arg("--project-dir")
            .arg(dir)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--namespaces", ns, "--instance", self.instance])
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(out.try_clone().expect("log handle")))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .expect("starting a scheduler replica");
        self.child = Some(child);
    }

    async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }
}

fn append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

fn free_address() -> anyhow::Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.to_string())
}

fn name_of(i: usize) -> String {
    format!("soak-{i:05}")
}

async fn create_resources(client: &kube::Client, ns: &str, count: usize) -> anyhow::Result<()> {
    let api = operator::soaks(client, ns);
    futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                let obj: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": format!("{}/v1", operator::GROUP),
                    "kind": "Soak",
                    "metadata": {"name": name_of(i), "namespace": ns},
                    "spec": {"note": "soak"},
                }))?;
                api.create(&PostParams::default(), &obj)
                    .await
                    .with_context(|| format!("creating {}", name_of(i)))?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<()>()
        .await
}

/// The resources as they are now; `None` while the API server does not answer.
async fn finals(client: &kube::Client, ns: &str) -> Option<Vec<Final>> {
    let list = operator::soaks(client, ns)
        .list(&ListParams::default())
        .await
        .ok()?;
    Some(
        list.items
            .into_iter()
            .map(|o| {
                let status = o.data.get("status").cloned().unwrap_or_default();
                Final {
                    name: o.metadata.name.clone().unwrap_or_default(),
                    uid: o.metadata.uid.clone().unwrap_or_default(),
                    phase: status["phase"].as_str().unwrap_or_default().to_string(),
                    history: status["statusInfo"]["history"]
                        .as_array()
                        .map(|h| {
                            h.iter()
                                .filter_map(|p| p.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect(),
    )
}

async fn count_final(client: &kube::Client, ns: &str) -> Option<usize> {
    finals(client, ns)
        .await
        .map(|f| f.iter().filter(|r| r.phase == FINAL).count())
}

async fn leader(client: &kube::Client, ns: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    leases
        .get_opt("soak-operator")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

/// Reads every worker log: the calls in arrival order, and how many arrived without an answer
/// in a process that was killed.
fn read_worker_logs(logs: &[PathBuf]) -> (Vec<CallLine>, usize) {
    let mut lines: Vec<CallLine> = Vec::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // A SIGKILL may cut the last line short: skip what does not parse.
        lines.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    lines.sort_by_key(|l| l.t);
    let key = |l: &CallLine| (l.pid, l.uid.clone(), l.phase.clone(), l.attempt);
    let answered: BTreeSet<_> = lines.iter().filter(|l| l.answered).map(key).collect();
    let cut = lines
        .iter()
        .filter(|l| !l.answered && !answered.contains(&key(l)))
        .count();
    (lines.into_iter().filter(|l| !l.answered).collect(), cut)
}

fn panics_in(logs: &[PathBuf]) -> Vec<String> {
    logs.iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("panicked"))
                .map(|l| format!("{}: {l}", p.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs the soak.
///
/// # Errors
///
/// The control plane or a process could not be started; a failing check is not an error but
/// a [`Report`] that did not pass.
pub async fn run(options: Options, binary: &SchedulerBinary) -> anyhow::Result<Report> {
    let mut cp = ControlPlane::builder()
        .audit_log(false)
        .verbosity(0)
        .start()
        .await?;
    let client = cp.client();
    operator::install_crd(&client).await?;
    let namespace = cp.namespace("soak").await?;
    let ns = namespace.name().to_string();
    let dir = tempfile::Builder::new()
        .prefix("autopilot-soak-")
        .tempdir()?;
    let dir_path = dir.path().to_path_buf();

    let mut workers = Vec::new();
    for i in 0..2 {
        let mut w = WorkerSlot {
            address: free_address()?,
            log: dir_path.join(format!("worker-{i}.log")),
            child: None,
        };
        w.start()?;
        workers.push(w);
    }
    let endpoint = format!(
        "http://{}",
        workers
            .iter()
            .map(|w| w.address.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    operator::write_project(&dir_path, &endpoint, &ns, options.concurrency)?;
    let kubeconfig = cp.kubeconfig_path().to_path_buf();
    let mut replicas = [
        Replica {
            instance: "replica-a",
            log: dir_path.join("scheduler-a.log"),
            child: None,
        },
        Replica {
            instance: "replica-b",
            log: dir_path.join("scheduler-b.log"),
            child: None,
        },
    ];
    for r in &mut replicas {
        r.start(binary, &dir_path, &kubeconfig, &ns);
    }

    eprintln!("soak: creating {} resources in {ns}", options.resources);
    let started = Instant::now();
    create_resources(&client, &ns, options.resources).await?;

    let mut injected = Injected::default();
    let mut next_leader_kill = started + options.scheduler_kill_every;
    let mut next_worker_kill = started + options.worker_kill_every;
    let apiserver_at = started + options.fault_window / 4;
    let etcd_at = started + options.fault_window / 2;
    let fault_end = started + options.fault_window;
    let mut last_fault = started;
    let mut worker_turn = 0;
    loop {
        let now = Instant::now();
        if now >= fault_end
            || (injected.apiserver_restarts > 0
                && injected.etcd_restarts > 0
                && count_final(&client, &ns).await == Some(options.resources))
        {
            break;
        }
        if injected.apiserver_restarts == 0 && now >= apiserver_at {
            eprintln!(
                "soak: kube-apiserver down for {:?}",
                options.apiserver_outage
            );
            cp.stop(Component::ApiServer);
            tokio::time::sleep(options.apiserver_outage).await;
            cp.start_again(Component::ApiServer).await?;
            injected.apiserver_restarts += 1;
            last_fault = Instant::now();
            continue;
        }
        if injected.etcd_restarts == 0 && now >= etcd_at {
            eprintln!("soak: etcd down for {:?}", options.etcd_outage);
            cp.stop(Component::Etcd);
            tokio::time::sleep(options.etcd_outage).await;
            cp.start_again(Component::Etcd).await?;
            injected.etcd_restarts += 1;
            last_fault = Instant::now();
            continue;
        }
        if now >= next_leader_kill {
            next_leader_kill = now + options.scheduler_kill_every;
            let holder = leader(&client, &ns).await.unwrap_or_default();
            let Some(r) = replicas
                .iter_mut()
                .find(|r| holder.starts_with(&format!("{}_", r.instance)))
            else {
                eprintln!("soak: no leader to kill (lease holder {holder:?})");
                continue;
            };
            eprintln!("soak: SIGKILL the leader {}", r.instance);
            r.kill().await;
            r.start(binary, &dir_path, &kubeconfig, &ns);
            injected.leader_kills += 1;
            last_fault = Instant::now();
            let old = holder.clone();
            let failover_deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < failover_deadline {
                match leader(&client, &ns).await {
                    Some(h) if h != old => {
                        injected.failovers += 1;
                        break;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            }
            continue;
        }
        if now >= next_worker_kill {
            next_worker_kill = now + options.worker_kill_every;
            let w = &mut workers[worker_turn % 2];
            worker_turn += 1;
            w.kill().await;
            injected.worker_kills += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
            w.start()?;
            last_fault = Instant::now();
            continue;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fault_time = last_fault - started;
    eprintln!("soak: faults over after {fault_time:?}; waiting for every resource to finish");

    let deadline = Instant::now() + options.converge_timeout;
    let mut converged_at = None;
    while Instant::now() < deadline {
        if count_final(&client, &ns).await == Some(options.resources) {
            converged_at = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Let in-flight work settle before reading the end state (late prunes, last writes).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let resources = finals(&client, &ns)
        .await
        .context("listing the resources at the end")?;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let outputs: Vec<Output> = config_maps
        .list(&ListParams::default().labels("autopilot.dev/operator=soak-operator"))
        .await
        .context("listing the outputs at the end")?
        .items
        .into_iter()
        .map(|cm| Output {
            name: cm.metadata.name.clone().unwrap_or_default(),
            owner_uid: cm
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("autopilot.dev/owner-uid"))
                .cloned(),
        })
        .collect();
    for r in &mut replicas {
        r.kill().await;
    }
    for w in &mut workers {
        w.kill().await;
    }
    let worker_logs: Vec<PathBuf> = workers.iter().map(|w| w.log.clone()).collect();
    let (lines, cut) = read_worker_logs(&worker_logs);
    injected.calls_cut = cut;
    let calls: Vec<LoggedCall> = lines
        .iter()
        .map(|l| LoggedCall {
            uid: l.uid.clone(),
            phase: l.phase.clone(),
        })
        .collect();
    let findings = check::check(&resources, &calls, &outputs);
    let mut all_logs: Vec<PathBuf> = replicas.iter().map(|r| r.log.clone()).collect();
    all_logs.extend(worker_logs.iter().map(|l| l.with_extension("stderr")));
    let panics = panics_in(&all_logs);
    let finished = resources.iter().filter(|r| r.phase == FINAL).count();
    let per_phase: BTreeMap<&str, usize> = resources.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.phase.as_str()).or_default() += 1;
        m
    });
    if finished != options.resources {
        eprintln!("soak: phases at the end: {per_phase:?}");
    }
    let report = Report {
        options,
        injected,
        finished,
        calls: calls.len(),
        fault_time,
        converged_after_last_fault: converged_at.map(|t| t.saturating_duration_since(last_fault)),
        total: converged_at.map(|t| t - started),
        panics,
        findings,
        logs: dir_path.clone(),
    };
    // Keep the logs of a failed soak for a post-mortem.
    if !report.passed() {
        let kept = dir.keep();
        eprintln!("soak: kept the logs in {}", kept.display());
    }
    Ok(report)
}
