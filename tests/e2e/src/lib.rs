//! Support for the integration and end-to-end suites: a scriptable worker served over real
//! gRPC, project files for the scheduler, the scheduler as a process, and waits that say what
//! they waited for.
//!
//! The suites themselves live in `tests/`; each starts from
//! [`autopilot_testenv::shared`] for a real kube-apiserver.

pub mod greeter;
pub mod new_user;
pub mod project;
pub mod prometheus;
pub mod scheduler;
pub mod traffic;
pub mod wait;
pub mod worker;
