//! The Greeting operator's worker: two phases, written with the Rust SDK.
use std::time::Duration;

use autopilot_sdk::{Context, Outcome, Worker, WorkerError, outputs};
use serde::{Deserialize, Serialize};

/// `.spec` of a Greeting.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    message: String,
    rounds: Option<u32>,
}

/// `.status.statusInfo` of a Greeting.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    round: u32,
    published: String,
}

async fn initializing(ctx: Context<Spec, Info>) -> Result<Outcome<Info>, WorkerError> {
    let name = format!("{}-greeting", ctx.name());
    let cm = outputs::config_map(&name).data("message", ctx.spec().message.clone());
    Ok(Outcome::next("Processing")
        .output(cm)?
        .status(Info {
            round: 0,
            published: name.clone(),
        })
        .event_normal("Published", format!("published {name}")))
}

async fn processing(ctx: Context<Spec, Info>) -> Result<Outcome<Info>, WorkerError> {
    let owned = ctx.objects_json("configmaps")?.len();
    let mut info = ctx.status_info().cloned().unwrap_or_default();
    info.round += 1;
    let rounds = ctx.spec().rounds.unwrap_or(3);
    let cm = outputs::config_map(&info.published)
        .data("message", ctx.spec().message.clone())
        .data("round", info.round.to_string());
    let outcome = if info.round >= rounds {
        Outcome::next("Finished")
    } else {
        Outcome::stay()
    };
    Ok(outcome
        .output(cm)?
        .status(info.clone())
        .condition(
            "Counted",
            true,
            "Round",
            format!(
                "round {} of {rounds}: {owned} ConfigMap(s) owned",
                info.round
            ),
        )
        .requeue_after(Duration::from_millis(700)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    Worker::<Spec, Info>::new("hello-worker")
        .phase("Initializing", initializing)
        .phase("Processing", processing)
        .serve_from_env()
        .await?;
    Ok(())
}
