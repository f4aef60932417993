//! The one error type of the crate: what failed while starting or using a control plane.

use std::path::PathBuf;
use std::time::Duration;

use crate::Component;

/// Why a control plane could not be started or used.
///
/// None of these is worth retrying blindly inside a test: a port collision is already retried
/// internally (see [`Error::ExitedEarly`]), and everything else points at the machine (missing
/// binaries, no disk space) or at a bug, so the message says what to look at instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `hack/controlplane.sh` could not be run or failed. Not retryable: read its stderr.
    #[error("building the control plane binaries with {script} failed ({status}): {stderr}")]
    BuildScriptFailed {
        /// The script that was run.
        script: PathBuf,
        /// How it ended (exit status, or the error running it).
        status: String,
        /// The tail of what it wrote to stderr.
        stderr: String,
    },

    /// A binary of the control plane is missing. Not retryable: build it or point
    /// `AUTOPILOT_CONTROLPLANE_BIN` at a directory that has it.
    #[error(
        "{binary} not found in {dir} (from {source_of_dir}); run `bash hack/controlplane.sh` \
         or set AUTOPILOT_CONTROLPLANE_BIN to a directory with etcd, kube-apiserver, \
         kube-controller-manager and kube-scheduler"
    )]
    BinaryMissing {
        /// The file name that was looked for.
        binary: &'static str,
        /// The directory that was searched.
        dir: PathBuf,
        /// Where that directory came from (the environment variable or the script).
        source_of_dir: String,
    },

    /// A file or directory of the control plane could not be written or read. Not retryable.
    #[error("{action} {}: {source}", path.display())]
    Filesystem {
        /// What was being done ("creating", "writing", ...).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// No free TCP port could be reserved on 127.0.0.1. Not retryable.
    #[error("reserving a free port on 127.0.0.1: {0}")]
    FreePort(#[source] std::io::Error),

    /// The CA, serving, client or service-account keys could not be generated. Not retryable.
    #[error("generating {what}: {source}")]
    Certificate {
        /// Which key or certificate.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },

    /// A process (a component or the watchdog) could not be started. Not retryable.
    #[error("starting {what} from {}: {source}", binary.display())]
    Spawn {
        /// What was started.
        what: String,
        /// The executable.
        binary: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The watchdog that kills the control plane if the test process dies could not be told about
    /// a new process, so that process would be unguarded. Not retryable.
    #[error("registering pid {pid} with the orphan watchdog: {source}")]
    WatchdogLost {
        /// The process that could not be registered (it has been killed).
        pid: u32,
        /// The underlying error (usually a broken pipe: the watchdog died).
        #[source]
        source: std::io::Error,
    },

    /// A component exited while we waited for it to become ready. Retried internally with fresh
    /// ports when the log says a port was taken; otherwise not retryable.
    #[error(
        "{component} exited during startup ({status}); log {}:\n{log_tail}",
        log.display()
    )]
    ExitedEarly {
        /// The component that exited.
        component: Component,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        log_tail: String,
    },

    /// A component did not become ready in time. Not retryable: the log tail usually says why.
    #[error(
        "timed out after {timeout:?} waiting for {waited_for} (last result: {last_result}); \
         log {}:\n{log_tail}",
        log.display()
    )]
    NotReady {
        /// The component that was waited for.
        component: Component,
        /// What exactly was waited for, e.g. "kube-apiserver GET /readyz to return ok".
        waited_for: String,
        /// How long we waited.
        timeout: Duration,
        /// The last probe's result.
        last_result: String,
        /// The component's log file.
        log: PathBuf,
        /// The last lines of the log.
        log_tail: String,
    },

    /// The generated kubeconfig could not be turned into a client configuration. Not retryable.
    #[error("loading the generated kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: kube::config::KubeconfigError,
    },

    /// A Kubernetes client could not be built or a request failed. Retryable only if the API
    /// server is still starting.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The underlying error.
        #[source]
        source: kube::Error,
    },
}

impl Error {
    pub(crate) fn filesystem(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Filesystem {
            action,
            path,
            source,
        }
    }

    pub(crate) fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Error::Kube { action, source }
    }
}
