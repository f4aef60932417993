//! Serves the canary worker on `AUTOPILOT_WORKER_ADDR` (see `autopilot_sdk::serve`).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    autopilot_example_canary::worker().serve_from_env().await?;
    Ok(())
}
