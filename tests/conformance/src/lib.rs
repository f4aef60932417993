//! The worker conformance suite: runs the conformance scenario (`SCENARIO.md`) against any
//! worker, in any language, and reports each check as PASS or FAIL with the reason.
//!
//! The suite drives real parts only: a control plane from `autopilot-testenv` (or any cluster
//! given by a kubeconfig), a real Prometheus (the `prometheus` binary on `PATH`), the
//! `Probe` CRD built from `project/autopilot.yaml`, and the scheduler as its own process. The
//! worker is either already serving ([`WorkerSource::Endpoint`]) or started from a command
//! ([`WorkerSource::Command`]) with `AUTOPILOT_WORKER_ADDR` set to a free loopback port.
//!
//! Start with [`suite::run`] and its [`suite::Options`]; the `autopilot-conformance` binary is a
//! thin command line over it, and [`scenario`] holds the checks themselves.

pub mod check;
pub mod cluster;
pub mod error;
pub mod prometheus;
pub mod scenario;
pub mod scheduler;
pub mod suite;
pub mod wait;
pub mod worker;

pub use check::{Check, Report};
pub use error::Error;
pub use suite::{Options, WorkerSource};

/// The scenario's project file, embedded so the suite runs from anywhere.
pub const PROJECT_YAML: &str = include_str!("../project/autopilot.yaml");
