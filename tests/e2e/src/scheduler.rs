//! Running `autopilot-scheduler` as a separate process, as it runs in production.
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

/// Path of the `autopilot-scheduler` binary beside the test binary, brought up to date once
/// per test process (a test of this crate does not otherwise rebuild another crate's binary).
pub fn binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            // target/<profile>/deps/<test> -> target/<profile>/autopilot-scheduler
            let dir = exe.parent().and_then(Path::parent).expect("target dir");
            let status = std::process::Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "autopilot-scheduler",
                    "--bin",
                    "autopilot-scheduler",
                ])
                .status()
                .expect("running cargo build");
            assert!(status.success(), "building autopilot-scheduler");
            dir.join("autopilot-scheduler")
        })
        .clone()
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
    pub fn start(
        project_dir: &Path,
        kubeconfig: &Path,
        namespace: &str,
        extra_args: &[&str],
    ) -> Self {
        let n = std::fs::read_dir(project_dir)
            .map(|d| d.count())
            .unwrap_or(0);
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

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "--- scheduler log {} (last 60 lines) ---",
                self.log.display()
            );
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}
