//! The scheduler under which the worker runs, as its own process, as in production.
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::error::Error;

/// How to start the scheduler: a program and the arguments that precede the scheduler's own.
///
/// The `autopilot-conformance` binary bundles the scheduler (`autopilot-conformance scheduler
/// ARGS` runs `autopilot_scheduler::run::run`, exactly what `autopilot-scheduler` runs), so a
/// run needs no second binary and never tests a stale one; pass an `autopilot-scheduler`
/// binary to test that instead.
#[derive(Debug, Clone)]
pub struct Program {
    /// The executable.
    pub path: PathBuf,
    /// Arguments before the scheduler's own, for example `["scheduler"]`.
    pub prefix: Vec<OsString>,
}

/// A running scheduler; killed when dropped.
#[derive(Debug)]
pub struct SchedulerProcess {
    child: Child,
    log: PathBuf,
}

impl SchedulerProcess {
    /// Starts the scheduler for `project_dir` on the cluster of `kubeconfig`, watching only
    /// `namespace`, with its output in `log`.
    ///
    /// # Errors
    ///
    /// [`Error::Scheduler`] when it cannot be started.
    pub fn start(
        program: &Program,
        project_dir: &Path,
        kubeconfig: &Path,
        namespace: &str,
        log: &Path,
    ) -> Result<Self, Error> {
        let out = std::fs::File::create(log).map_err(Error::io("creating the scheduler log"))?;
        let err = out
            .try_clone()
            .map_err(Error::io("opening the scheduler log"))?;
        let child = Command::new(&program.path)
            .args(&program.prefix)
            .arg("--project-dir")
            .arg(project_dir)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--namespaces")
            .arg(namespace)
            .env_remove("AUTOPILOT_WORKER_ENDPOINT")
            .env_remove("AUTOPILOT_CONFIG")
            // Plain log lines: the log is a file, and its tail is shown on failure.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Scheduler(format!("starting {}: {e}", program.path.display())))?;
        Ok(Self {
            child,
            log: log.to_path_buf(),
        })
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Kills it and waits for it.
    pub async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
