//! Processing: Shift traffic step by step while the success rate holds.

use autopilot_sdk::{Context, Outcome, WorkerError};

use crate::model::{Spec, StatusInfo};

/// Handle one resource in the `Processing` phase.
///
/// Inputs:
/// - `ctx.objects::<T>("virtualservices")`: the VirtualService (networking.istio.io/v1) objects.
/// - `ctx.metric(name)`: the results of this phase's queries.
///
/// Outputs it may return with `Outcome::output`: VirtualService (networking.istio.io/v1).
///
/// It may move to: Finished.
///
/// As scaffolded it moves straight on to `Finished`; replace the body with the phase's logic.
pub async fn handle(_ctx: Context<Spec, StatusInfo>) -> Result<Outcome<StatusInfo>, WorkerError> {
    Ok(Outcome::next("Finished"))
}
