//! Why the suite could not run its checks at all (a failed check is not an error: see
//! [`crate::check`]). None of these is retryable by the suite itself.

/// A failure to set up what the checks need.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The control plane did not start, or the kubeconfig could not be used.
    #[error("control plane: {0}")]
    ControlPlane(String),
    /// Prometheus did not start or did not become ready.
    #[error("prometheus: {0}")]
    Prometheus(String),
    /// The worker command did not start, or the worker never answered `Describe`.
    #[error("worker: {0}")]
    Worker(String),
    /// The scheduler did not start.
    #[error("scheduler: {0}")]
    Scheduler(String),
    /// The scenario's project is invalid (a bug in the suite).
    #[error("project: {0}")]
    Project(String),
    /// A Kubernetes request the setup needs failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A local file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }

    pub(crate) fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::Kube { what, source }
    }
}
