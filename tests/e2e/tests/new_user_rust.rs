//! A new user's first Rust operator, step by step as the README tells it: `ap init`,
//! `ap generate --lang rust`, fill in the phase handlers, `ap run` (which builds the worker and
//! runs it with the scheduler), `kubectl apply` the generated example — and the example resource
//! reaches its final phase with its VirtualService applied; see `autopilot_e2e::new_user`.
//!
//! `ap run` builds the worker with cargo in `$AUTOPILOT_CACHE/target-golden-rust`
//! (`AUTOPILOT_CACHE` defaults to `~/.cache/autopilot`), never the workspace's target
//! directory, whose lock the cargo running this test may hold.

use autopilot_e2e::new_user::{Project, cache, root};

/// The CR's API group: unique to this suite, as CRDs are cluster-wide.
const GROUP: &str = "newuser-rust.e2e.autopilot.dev";

/// The Initializing handler a user writes: route all traffic of the target to it, move on. It
/// prints what it does (the generated worker logs nothing by itself), which `ap run` shows
/// prefixed with `worker`.
const INITIALIZING: &str = r#"//! Initializing: set up the traffic routing for the target.

use autopilot_sdk::outputs::{self, Destination};
use autopilot_sdk::{Context, Outcome, WorkerError};

use crate::model::{Spec, StatusInfo};

/// Route every request for the target to its stable subset, then start shifting.
pub async fn handle(ctx: Context<Spec, StatusInfo>) -> Result<Outcome<StatusInfo>, WorkerError> {
    let target = &ctx.spec().target;
    println!("routing all traffic of {target} to its stable subset");
    let stable = Destination::new(target.as_str()).subset("stable").port(80).weight(100);
    Ok(Outcome::next("Processing")
        .output(outputs::virtual_service(target.as_str()).route([stable]))?
        .status(StatusInfo { weight: Some(0) })
        .event_normal("Routed", format!("VirtualService {target} created")))
}
"#;

/// The Processing handler: finish once the VirtualService shows up among the inputs.
const PROCESSING: &str = r#"//! Processing: shift traffic step by step while the success rate holds.

use autopilot_sdk::{Context, Outcome, WorkerError};

use crate::model::{Spec, StatusInfo};

/// Done once the scheduler reports the target's VirtualService as an input.
pub async fn handle(ctx: Context<Spec, StatusInfo>) -> Result<Outcome<StatusInfo>, WorkerError> {
    let target = &ctx.spec().target;
    let routed = ctx
        .objects_json("virtualservices")?
        .iter()
        .any(|vs| vs["metadata"]["name"].as_str() == Some(target.as_str()));
    if routed {
        Ok(Outcome::next("Finished").status(StatusInfo { weight: Some(100) }))
    } else {
        Ok(Outcome::stay())
    }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn new_user_builds_and_runs_a_rust_operator() {
    let tmp = tempfile::tempdir().unwrap();
    let sdk = root().join("sdk-rust");
    let project = Project::generate(tmp.path(), "rust", GROUP, Some(&sdk));
    project.write("src/phases/initializing.rs", INITIALIZING);
    project.write("src/phases/processing.rs", PROCESSING);
    project
        .run_until_finished(
            "new-user-rust",
            &[(
                "CARGO_TARGET_DIR",
                cache().join("target-golden-rust").into_os_string(),
            )],
        )
        .await;
}
