//! Support for the integration and end-to-end suites: a scriptable worker served over real
//! gRPC, project files for the scheduler, the scheduler as a process, and waits that say what
//! they waited for.
//!
//! The suites themselves live in `tests/`; each starts from
//! [`autopilot_testenv::shared`] for a real kube-apiserver.

pub mod as_user;
pub mod flux;
pub mod git_server;
pub mod greeter;
pub mod jaeger;
pub mod new_user;
pub mod project;
pub mod prometheus;
pub mod scheduler;
pub mod spans;
pub mod ssh_git;
pub mod traffic;
pub mod upstream_crds;
pub mod wait;
pub mod worker;
