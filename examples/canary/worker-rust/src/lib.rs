//! The canary release operator's worker: five phases over a `CanaryDeployment`.
//!
//! A `CanaryDeployment` names a target Deployment whose pod template is the source of revisions.
//! `Initializing` creates `<target>-primary` (serving) and `<target>-canary` (scaled to zero)
//! with their Services and a route sending all traffic to the primary. `Waiting` notices a new
//! pod template in the target and starts an analysis; `Evaluating` checks the canary's success
//! rate and p99 latency every `interval`, shifting `stepWeight` percent more traffic to it while
//! it is healthy; `Promoting` copies the canary's template to the primary; `RollingBack` sends
//! everything back to the primary. Every decision is a pure function in [`analysis`]; the
//! handlers in [`phases`] only read inputs, call it and build outputs with [`release`].
//!
//! Start with [`phases`]; [`worker`] registers them.

pub mod analysis;
pub mod model;
pub mod phases;
pub mod release;
pub mod revision;
pub mod traffic;

use autopilot_sdk::Worker;

use crate::model::{Info, Spec};

/// The worker serving every phase of `CanaryDeployment`.
pub fn worker() -> Worker<Spec, Info> {
    Worker::<Spec, Info>::new("canary-worker")
        .version(env!("CARGO_PKG_VERSION"))
        .phase("Initializing", phases::initializing)
        .phase("Waiting", phases::waiting)
        .phase("Evaluating", phases::evaluating)
        .phase("Promoting", phases::promoting)
        .phase("RollingBack", phases::rolling_back)
}
