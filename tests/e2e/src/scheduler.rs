//! Running `autopilot-scheduler` as a separate process, as it runs in production.
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

/// Path of the `autopilot-scheduler` binary built beside the test binary.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/autopilot-scheduler
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("autopilot-scheduler");
    if !bin.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "autopilot-scheduler", "--bin", "autopilot-scheduler"])
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building autopilot-scheduler");
    }
    bin
}

/// A scheduler process; killed when dropped.
#[derive(Debug)]
pub struct SchedulerProcess {
    /// The child.
    pub child: Child,
    /// Its log file.
    pub log: PathBuf,
}

impl SchedulerProcess {
    /// Starts the scheduler for `project_dir` against the cluster of `kubeconfig`, watching
    /// `namespace`. Output goes to `<project_dir>/scheduler-<n>.log`.
    pub fn start(project_dir: &Path, kubeconfig: &Path, namespace: &str, extra_args: &[&str]) -> Self {
        let n = std::fs::read_dir(project_dir).map(|d| d.count()).unwrap_or(0);
        let log = project_dir.join(format!("scheduler-{n}.log"));
        let out = std::fs::File::create(&log).expect("creating scheduler log");
        let child = Command::new(binary())
            .arg("--project-dir")
            .arg(project_dir)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--namespaces")
            .arg(namespace)
            .args(extra_args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .expect("starting autopilot-scheduler");
        SchedulerProcess { child, log }
    }

    /// SIGKILLs the process and waits for it.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
