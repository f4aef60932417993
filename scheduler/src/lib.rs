//! The generic Autopilot scheduler: one binary that runs any Autopilot operator.
//!
//! It reads a project's `autopilot.yaml` and `autopilot-operator.yaml` at run time, watches the
//! operator's custom resources, keeps each one's phase in its status, gathers the phase's
//! inputs, calls the worker serving the phase over gRPC (`autopilot.worker.v1`), applies what
//! the worker returns, and writes the status.
//!
//! Start with [`run::run`] (what the binary does), then [`reconcile`] (one step of one
//! resource) and [`step`] (the pure decision of what comes next). The worker call itself —
//! request, gRPC client, reply check, fake — is the `autopilot-worker-client` crate.

pub mod admission;
pub mod api_failure;
pub mod args;
pub mod cached;
pub mod events;
pub mod gates;
pub mod git;
pub mod inbox;
pub mod inputs;
pub mod leader;
pub mod metrics;
pub mod notify;
pub mod outputs;
pub mod plan;
pub mod prometheus;
pub mod reconcile;
pub mod reload;
pub mod run;
pub mod selector;
pub mod server;
pub mod startup;
pub mod status;
pub mod step;
pub mod tasks;
pub mod telemetry;
pub mod traces;
pub mod unserved;

impl From<autopilot_worker_client::EndpointError> for Error {
    fn from(e: autopilot_worker_client::EndpointError) -> Self {
        Error::WorkerEndpoint {
            endpoint: e.endpoint,
            reason: e.reason,
        }
    }
}

/// Errors that stop the scheduler (start-up and fatal runtime failures). Reconcile-time
/// failures never reach this type: they become conditions and retries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The project files are invalid; every problem is listed, one per line.
    #[error("invalid project:\n{0}")]
    InvalidProject(String),
    /// A worker endpoint is malformed (not retryable: fix the configuration).
    #[error("worker endpoint {endpoint}: {reason}")]
    WorkerEndpoint {
        /// The endpoint.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Describe handshake failed or disagreed with the project (not retryable).
    #[error("worker handshake: {0}")]
    Handshake(String),
    /// No Kubernetes client could be configured.
    #[error("kubernetes client: {0}")]
    Kubeconfig(String),
    /// A listening socket could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// This replica could not renew the leader lease in time (or another replica took it).
    #[error("lost the leader lease")]
    LostLeadership,
    /// A task the scheduler cannot work without ended (not retryable here: the process exits
    /// and its supervisor restarts it).
    #[error("task {name} {how}; stopping")]
    TaskEnded {
        /// The task's name.
        name: String,
        /// `ended`, or `failed: ` and why (a panic).
        how: String,
    },
    /// A reconcile failed in a way that stops the scheduler.
    #[error("reconcile: {0}")]
    Reconcile(String),
}
