//! A real local Kubernetes control plane for tests, started the way controller-runtime's envtest
//! starts one: etcd and kube-apiserver (optionally kube-controller-manager and kube-scheduler) as
//! child processes on free ports of 127.0.0.1, with a generated CA, an admin client certificate
//! and service-account keys, all in one temporary directory. No kubelet runs, so pods are never
//! started; everything the API server and the controllers do is real.
//!
//! Start with [`shared`] — one control plane per test binary, started on first use — and give each
//! test its own [`TestNamespace`] from [`ControlPlane::namespace`]. Start a private
//! [`ControlPlane`] with [`ControlPlane::builder`] when a test needs other components or must
//! not share.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
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
//! Dropping a [`ControlPlane`] kills and reaps its processes and removes its directory. In case
//! it is never dropped (a `static`, or the test process is killed), each control plane also
//! starts a small watchdog process that kills the components and removes the directory the
//! moment the test process is gone: see `process.rs` for how. Set `AUTOPILOT_TESTENV_KEEP=1` to
//! keep the directory (logs, audit log) for a post-mortem.

mod binaries;
mod component;
mod control_plane;
mod error;
mod namespace;
mod pki;
mod process;

pub use binaries::BIN_DIR_ENV;
pub use component::Component;
pub use control_plane::{Builder, ControlPlane, KEEP_ENV};
pub use error::Error;
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
