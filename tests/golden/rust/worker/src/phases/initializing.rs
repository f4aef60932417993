//! Initializing: Set up the traffic routing for the target.

use autopilot_sdk::{Context, Outcome, WorkerError};

use crate::model::{Spec, StatusInfo};

/// Handle one resource in the `Initializing` phase.
///
/// It has no inputs.
///
/// Outputs it may return with `Outcome::output`: VirtualService (networking.istio.io/v1).
///
/// It may move to: Processing.
///
/// As scaffolded it moves straight on to `Processing`; replace the body with the phase's logic.
pub async fn handle(_ctx: Context<Spec, StatusInfo>) -> Result<Outcome<StatusInfo>, WorkerError> {
    Ok(Outcome::next("Processing"))
}
