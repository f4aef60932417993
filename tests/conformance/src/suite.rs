//! One run of the suite: set up the real parts, run every check, tear down.
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::check::{Check, Report};
use crate::cluster::{self, Cluster};
use crate::error::Error;
use crate::prometheus::Prometheus;
use crate::scenario::{self, Scenario};
use crate::scheduler::{self, SchedulerProcess};
use crate::worker::{self, WorkerProcess};

/// Where the worker under test comes from.
#[derive(Debug, Clone)]
pub enum WorkerSource {
    /// Already serving at `http://host:port` or `unix:/path`.
    Endpoint(String),
    /// Started with `sh -c <command>` and `AUTOPILOT_WORKER_ADDR=127.0.0.1:<free port>`;
    /// stopped at the end.
    Command(String),
}

/// What to run against, and how long to wait.
#[derive(Debug, Clone)]
pub struct Options {
    /// The worker under test.
    pub worker: WorkerSource,
    /// Use this cluster instead of starting a control plane.
    pub kubeconfig: Option<PathBuf>,
    /// The Prometheus binary.
    pub prometheus: PathBuf,
    /// How the scheduler is started.
    pub scheduler: scheduler::Program,
    /// Prefix of the run's namespace.
    pub namespace_prefix: String,
    /// Bound of every wait of the checks.
    pub timeout: Duration,
    /// How long the worker may take to answer `Describe` (a first build can be slow).
    pub worker_timeout: Duration,
    /// Keep the working directory (logs, project files) and the namespace afterwards.
    pub keep: bool,
}

/// The Probes of the run: name and spec.
fn probes() -> [(&'static str, serde_json::Value); 3] {
    [
        ("happy", json!({"target": "web", "factor": 3})),
        (
            "retry",
            json!({"target": "retry", "factor": 1, "failFirst": 2}),
        ),
        (
            "blocked",
            json!({"target": "blocked", "factor": 1, "permanent": true}),
        ),
    ]
}

/// The operator configuration of the run: short timings so the scenario takes seconds.
fn operator_yaml(endpoint: &str, prometheus_url: &str) -> String {
    format!(
        "# Written by autopilot-conformance.\n\
         workInterval: 1s\n\
         workers:\n  endpoint: {endpoint}\n\
         retry:\n  initialBackoff: 100ms\n  maxBackoff: 1s\n  permanentErrorInterval: 2s\n\
         prometheus:\n  url: {prometheus_url}\n\
         metricsAddr: \"127.0.0.1:0\"\n\
         healthAddr: \"\"\n"
    )
}

/// Runs the whole scenario; `on_check` sees each check as it finishes.
///
/// # Errors
///
/// An [`Error`] when a real part could not be set up; failed checks are in the [`Report`].
pub async fn run(options: &Options, on_check: &mut dyn FnMut(&Check)) -> Result<Report, Error> {
    let dir = tempfile::Builder::new()
        .prefix("autopilot-conformance-")
        .tempdir()
        .map_err(Error::io("creating the working directory"))?;
    let work = if options.keep {
        let kept = dir.keep();
        eprintln!("autopilot-conformance: keeping {}", kept.display());
        kept
    } else {
        dir.path().to_path_buf()
    };
    let mut report = Report::default();
    let mut record = |report: &mut Report, check: Check| {
        on_check(&check);
        report.checks.push(check);
    };

    // The three slow starts side by side.
    let mut process = match &options.worker {
        WorkerSource::Command(command) => {
            Some(WorkerProcess::start(command, &work.join("worker.log"))?)
        }
        WorkerSource::Endpoint(_) => None,
    };
    let endpoint = match (&options.worker, &process) {
        (WorkerSource::Endpoint(e), _) => e.clone(),
        (_, Some(p)) => p.endpoint().to_owned(),
        (_, None) => unreachable!("a command always starts a process"),
    };
    let start_cluster = async {
        match &options.kubeconfig {
            Some(path) => Cluster::existing(path).await,
            None => Cluster::start().await,
        }
    };
    let prometheus_dir = work.join("prometheus");
    let (described, cluster, prometheus) = tokio::join!(
        worker::wait_until_serving(&endpoint, process.as_mut(), options.worker_timeout),
        start_cluster,
        Prometheus::start(&options.prometheus, &prometheus_dir),
    );
    let (described, cluster, prometheus) = (described?, cluster?, prometheus?);
    record(
        &mut report,
        Check::from_result("describe", scenario::describe(&described)),
    );

    let result = run_on_cluster(
        options,
        &work,
        &endpoint,
        &cluster,
        &prometheus,
        &mut |check| record(&mut report, check),
    )
    .await;
    if let Some(p) = process.as_mut() {
        p.stop().await;
    }
    let diagnostics = result?;
    if !report.passed() {
        eprintln!("{diagnostics}");
        if let Some(p) = &process {
            eprintln!("{}", worker::tail(p.log(), 60));
        }
    }
    drop(prometheus);
    drop(cluster);
    Ok(report)
}

/// Everything that needs the cluster; returns the scheduler's log tail for diagnostics.
async fn run_on_cluster(
    options: &Options,
    work: &Path,
    endpoint: &str,
    cluster: &Cluster,
    prometheus: &Prometheus,
    record: &mut dyn FnMut(Check),
) -> Result<String, Error> {
    let project_dir = work.join("project");
    std::fs::create_dir_all(&project_dir).map_err(Error::io("creating the project dir"))?;
    std::fs::write(project_dir.join("autopilot.yaml"), crate::PROJECT_YAML)
        .map_err(Error::io("writing autopilot.yaml"))?;
    std::fs::write(
        project_dir.join("autopilot-operator.yaml"),
        operator_yaml(endpoint, prometheus.url()),
    )
    .map_err(Error::io("writing autopilot-operator.yaml"))?;
    let model =
        autopilot_model::load_dir(&project_dir).map_err(|d| Error::Project(d.to_string()))?;

    let client = cluster.client();
    cluster::install_crd(&client, &model.project).await?;
    let namespace = cluster::create_namespace(&client, &options.namespace_prefix).await?;
    let mut sched = SchedulerProcess::start(
        &options.scheduler,
        &project_dir,
        cluster.kubeconfig(),
        &namespace,
        &work.join("scheduler.log"),
    )?;

    let scenario = Scenario::new(
        client.clone(),
        &namespace,
        cluster::resource(&model.project),
        options.timeout,
    );
    let mut created = Vec::new();
    for (name, spec) in probes() {
        created.push(scenario.create(name, spec).await);
    }
    let (happy, retry, blocked) = tokio::join!(
        async {
            match &created[0] {
                Ok(()) => scenario.happy_path("happy").await,
                Err(e) => Err(e.clone()),
            }
        },
        async {
            match &created[1] {
                Ok(()) => scenario.retryable("retry").await,
                Err(e) => Err(e.clone()),
            }
        },
        async {
            match &created[2] {
                Ok(()) => scenario.permanent("blocked").await,
                Err(e) => Err(e.clone()),
            }
        },
    );
    let happy_ok = happy.is_ok();
    record(Check::from_result("happy-path", happy));
    record(Check::from_result("retryable-error", retry));
    record(Check::from_result("permanent-error", blocked));
    let finalized = if created[0].is_ok() {
        scenario.finalize("happy").await
    } else {
        Err("Probe happy was not created".to_owned())
    };
    let finalized = finalized.map_err(|e| {
        if happy_ok {
            e
        } else {
            format!("{e} (happy-path failed before)")
        }
    });
    record(Check::from_result("finalize", finalized));

    let exited = sched.exited();
    sched.stop().await;
    drop(scenario);
    if !options.keep {
        cluster::delete_namespace(&client, &namespace).await;
    }
    let mut diagnostics = worker::tail(sched.log(), 60);
    if let Some(status) = exited {
        diagnostics = format!("the scheduler exited early with {status}\n{diagnostics}");
    }
    Ok(diagnostics)
}
