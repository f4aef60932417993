//! The scheduler as it runs in production: a separate `autopilot-scheduler` process with the
//! benchmark operator's project files, calling an SDK worker that serves its phases; and reading
//! the process's memory from `/proc`.
use std::path::{Path, PathBuf};
use std::process::Stdio;

use autopilot_sdk::serve::Config;
use autopilot_sdk::{Outcome, Worker};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::cluster::{AUTOPILOT_YAML, FINAL, MIDDLE};

/// Which program runs the scheduler.
#[derive(Debug, Clone)]
pub enum SchedulerBinary {
    /// An `autopilot-scheduler` binary (the release build in `hack/bench.sh`).
    Path(PathBuf),
    /// This benchmark binary's `run-scheduler` mode: the scheduler library's entry point, as the
    /// binary's `main` calls it. Used by the smoke test, which cannot build another crate's binary.
    SelfExec,
}

impl SchedulerBinary {
    /// `self` selects [`SelfExec`](Self::SelfExec); `auto` the `autopilot-scheduler` beside this
    /// binary when it exists, else `self`; anything else is a path.
    pub fn parse(text: &str) -> Self {
        match text {
            "self" => Self::SelfExec,
            "auto" => {
                let sibling = std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(|d| d.join("autopilot-scheduler")));
                match sibling {
                    Some(path) if path.exists() => Self::Path(path),
                    _ => Self::SelfExec,
                }
            }
            path => Self::Path(PathBuf::from(path)),
        }
    }

    /// Name for reports.
    pub fn describe(&self) -> String {
        match self {
            Self::Path(p) => p.display().to_string(),
            Self::SelfExec => "autopilot-bench run-scheduler (same library entry point)".into(),
        }
    }

    /// The command that starts the scheduler, before its arguments.
    ///
    /// # Errors
    ///
    /// This binary's path is unknown.
    pub fn command(&self) -> anyhow::Result<Command> {
        Ok(match self {
            Self::Path(p) => Command::new(p),
            Self::SelfExec => {
                let mut c = Command::new(std::env::current_exe()?);
                c.arg("run-scheduler");
                c
            }
        })
    }
}

/// The scheduler's entry point as `autopilot-scheduler`'s `main` calls it, for a benchmark
/// binary's `run-scheduler ARGS` mode ([`SchedulerBinary::SelfExec`]).
pub fn run_scheduler() -> std::process::ExitCode {
    use clap::Parser as _;
    let args = autopilot_scheduler::args::Args::parse_from(
        std::iter::once("autopilot-scheduler".to_string()).chain(std::env::args().skip(2)),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(autopilot_scheduler::run::run(
        args,
        autopilot_scheduler::run::shutdown_signal(),
    )) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autopilot-scheduler: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The SDK worker of the benchmark operator: Initializing → Processing → Finished, no outputs.
/// Stops when the returned sender is dropped.
///
/// # Errors
///
/// Binding failed.
pub async fn serve_phase_worker() -> anyhow::Result<(String, oneshot::Sender<()>)> {
    let worker: Worker = Worker::new("bench")
        .phase(crate::cluster::INITIAL, |_ctx| async {
            Ok(Outcome::next(MIDDLE))
        })
        .phase(MIDDLE, |_ctx| async { Ok(Outcome::next(FINAL)) });
    let bound = worker.bind(Config::new("127.0.0.1:0")).await?;
    let addr = bound
        .local_addr()
        .ok_or_else(|| anyhow::anyhow!("TCP worker has no local address"))?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(bound.serve_with_shutdown(async move {
        let _ = stopped.await;
    }));
    Ok((format!("http://{addr}"), stop))
}

/// Writes the benchmark operator's project files into `dir`.
///
/// # Errors
///
/// Writing failed.
pub fn write_project(dir: &Path, endpoint: &str, sizes: &crate::Sizes) -> anyhow::Result<()> {
    std::fs::write(dir.join("autopilot.yaml"), AUTOPILOT_YAML)?;
    let work_interval = sizes
        .work_interval
        .map(|d| format!("workInterval: {}ms\n", d.as_millis()))
        .unwrap_or_default();
    std::fs::write(
        dir.join("autopilot-operator.yaml"),
        format!(
            "{work_interval}concurrency: {}\nworkers:\n  endpoint: {endpoint}\n  deadline: 30s\nmetricsAddr: \"127.0.0.1:0\"\nhealthAddr: \"\"\nlogLevel: info\n",
            sizes.concurrency
        ),
    )?;
    Ok(())
}

/// A running scheduler process; killed when dropped.
#[derive(Debug)]
pub struct SchedulerProcess {
    child: Child,
    log: PathBuf,
}

impl SchedulerProcess {
    /// Starts the scheduler for the project in `dir`, watching `namespace`; its output goes to
    /// `dir/scheduler.log`.
    ///
    /// # Errors
    ///
    /// The process could not be started.
    pub fn start(
        binary: &SchedulerBinary,
        dir: &Path,
        kubeconfig: &Path,
        namespace: &str,
    ) -> anyhow::Result<Self> {
        let log = dir.join("scheduler.log");
        let out = std::fs::File::create(&log)?;
        let child = binary
            .command()?
            .arg("--project-dir")
            .arg(dir)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--namespaces")
            .arg(namespace)
            .env_remove("RUST_LOG")
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()?;
        Ok(SchedulerProcess { child, log })
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Memory as the kernel accounts it now.
    ///
    /// # Errors
    ///
    /// The process is gone.
    pub fn memory(&mut self) -> anyhow::Result<Memory> {
        if let Ok(Some(status)) = self.child.try_wait() {
            anyhow::bail!("the scheduler exited ({status}); log:\n{}", self.log_tail());
        }
        let pid = self
            .pid()
            .ok_or_else(|| anyhow::anyhow!("the scheduler has exited"))?;
        Memory::of(pid)
    }

    /// The last lines of the log, for errors.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// A process's resident memory, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Resident set size now (`VmRSS`), in KiB.
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM`), in KiB.
    pub hwm_kib: u64,
}

impl Memory {
    /// Reads `/proc/<pid>/status`.
    ///
    /// # Errors
    ///
    /// The file is unreadable or lacks the fields.
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("/proc/{pid}/status has no {name}"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

/// KiB as MiB with one decimal, for tables.
pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Kernel clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, 100 on every mainstream
/// Linux build; reading it with sysconf would need `unsafe`).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time (user + system) a process has used so far, in seconds.
///
/// # Errors
///
/// The process is gone or `/proc/<pid>/stat` is malformed.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime
    // are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("/proc/{pid}/stat has no command name"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("/proc/{pid}/stat is too short"))?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_SECOND)
}

/// CPU seconds used so far by the API server and etcd of `cp` together.
///
/// # Errors
///
/// A component is not running.
pub fn control_plane_cpu(cp: &autopilot_testenv::ControlPlane) -> anyhow::Result<f64> {
    use autopilot_testenv::Component;
    let mut total = 0.0;
    for c in [Component::ApiServer, Component::Etcd] {
        let pid = cp
            .pid(c)
            .ok_or_else(|| anyhow::anyhow!("{} is not running", c.binary_name()))?;
        total += cpu_seconds(pid)?;
    }
    Ok(total)
}
