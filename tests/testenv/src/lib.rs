//! A real local Kubernetes control plane for tests, started the way controller-runtime's envtest
//! starts one: etcd and kube-apiserver (optionally kube-controller-manager and kube-scheduler) as
//! child processes on free ports of 127.0.0.1, with a generated CA, an admin client certificate
//! and service-account keys, all in one temporary directory. No kubelet runs, so pods are never
//! started; everything the API server and the controllers do is real. With
//! [`Builder::with_kwok`], kwok simulates fake Nodes ([`KWOK_NODES`]) and the pods scheduled onto
//! them, which become `Running` and `Ready` without any container; with
//! [`Builder::with_kwok_logs`], kube-apiserver also serves their containers' logs, files the test
//! writes ([`ControlPlane::serve_pod_logs`]).
//!
//! Start with [`shared`] — one control plane per test binary, started on first use — and give each
//! test its own [`TestNamespace`] from [`ControlPlane::namespace`]. Start a private
//! [`ControlPlane`] with [`ControlPlane::builder`] when a test needs other components or must
//! not share.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let cp = autopilot_testenv::shared().await?;
//! let ns = cp.namespace("my-test").await?;
//! let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
//!     kube::Api::namespaced(cp.client(), ns.name());
//! # Ok(()) }
//! ```
//!
//! # Binaries
//!
//! From the directory in `AUTOPILOT_CONTROLPLANE_BIN` if set, else from `hack/controlplane.sh`,
//! which builds them from Go modules on first use (several minutes) and caches them by version.
//!
//! # Processes never outlive the test
//!
//! Dropping a [`ControlPlane`] kills (SIGKILL) and reaps its processes and removes its directory,
//! also while a failing test unwinds. For when it is never dropped — a `static` such as
//! [`shared`], or a test process killed by a signal or a harness timeout — each control plane
//! first starts a watchdog: a `bash` process whose stdin is a pipe that only the test process
//! can write to, and to which the test process writes the pid of each component it starts. When
//! the test process is gone, however it went, the kernel closes that pipe; the watchdog reads
//! end-of-file at once, kills every listed pid whose command line still names this control
//! plane's directory (so a recycled pid is never hit) and removes the directory. This stands in
//! for `PR_SET_PDEATHSIG`, which needs `unsafe` code the workspace forbids.
//!
//! Set `AUTOPILOT_TESTENV_KEEP=1` to keep the directory (component logs, audit log,
//! certificates, kubeconfig) for a post-mortem.

mod binaries;
mod component;
mod control_plane;
mod error;
mod kwok;
mod namespace;
mod pki;
mod process;

pub use binaries::BIN_DIR_ENV;
pub use component::Component;
pub use control_plane::{Builder, ControlPlane, KEEP_ENV};
pub use error::Error;
pub use kwok::{ContainerLog, KWOK_NODE_ANNOTATION, KWOK_NODES};
pub use namespace::{TEST_NAMESPACE_LABEL, TestNamespace};

use tokio::sync::OnceCell;

static SHARED: OnceCell<Result<ControlPlane, Error>> = OnceCell::const_new();

/// The control plane shared by every test of this test binary: etcd, kube-apiserver and
/// kube-controller-manager (so garbage collection works and deleted namespaces go away),
/// started by the first caller; the others wait for it.
///
/// It lives until the test binary exits; the watchdog then stops it. Isolate tests from each
/// other with [`ControlPlane::namespace`], and take a new [`ControlPlane::client`] in each test.
///
/// # Errors
///
/// The error of [`Builder::start`]; a failed start is not retried, so every test reports the
/// same error at once instead of each waiting for its own timeout.
pub async fn shared() -> Result<&'static ControlPlane, &'static Error> {
    SHARED
        .get_or_init(|| ControlPlane::builder().with_controller_manager().start())
        .await
        .as_ref()
}

#[cfg(test)]
mod tests {
    /// Callers may `tokio::spawn` a start, e.g. to start control planes side by side.
    #[test]
    fn starting_is_send() {
        fn is_send<T: Send>(_: &T) {}
        is_send(&crate::shared());
        is_send(&crate::ControlPlane::builder().start());
    }
}
