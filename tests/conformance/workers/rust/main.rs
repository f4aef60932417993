//! The Rust reference worker of the conformance scenario (`../../SCENARIO.md`), written with
//! the Rust SDK. Serves on `AUTOPILOT_WORKER_ADDR` (`host:port` or `unix:/path`).
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use autopilot_sdk::{Context, Finalized, MetricValue, Outcome, Worker, WorkerError, outputs};
use serde::{Deserialize, Serialize};

/// `.spec` of a Probe.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Spec {
    target: String,
    factor: i64,
    fail_first: u32,
    permanent: bool,
}

/// `.status.statusInfo` of a Probe.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Info {
    #[serde(skip_serializing_if = "Option::is_none")]
    seen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_query: Option<String>,
}

/// The ConfigMap both phases return: `<name>-probe`, labelled `probe=<name>`.
fn probe_config_map(ctx: &Context<Spec, Info>) -> outputs::ConfigMap {
    outputs::config_map(format!("{}-probe", ctx.name()))
        .label("probe", ctx.name())
        .data("target", ctx.spec().target.clone())
}

async fn preparing(ctx: Context<Spec, Info>) -> Result<Outcome<Info>, WorkerError> {
    let seen = ctx.objects_json("configmaps")?.len() as i64;
    let message = format!("prepared {}", ctx.name());
    Ok(Outcome::next("Checking")
        .output(probe_config_map(&ctx))?
        .status(Info {
            seen: Some(seen),
            ..Info::default()
        })
        .condition("Prepared", true, "Created", message.clone())
        .event_normal("Prepared", message))
}

async fn checking(ctx: Context<Spec, Info>) -> Result<Outcome<Info>, WorkerError> {
    let spec = ctx.spec();
    if spec.permanent {
        return Err(WorkerError::permanent("permanent failure requested"));
    }
    if ctx.attempt() <= spec.fail_first {
        return Err(WorkerError::retryable(format!(
            "transient failure {}",
            ctx.attempt()
        )));
    }
    let one = ctx.metric("one")?;
    let value = match one.value()? {
        MetricValue::Value(v) if v == spec.factor as f64 => v,
        other => {
            return Err(WorkerError::invalid(format!(
                "metric one is {other:?}, want {}",
                spec.factor
            )));
        }
    };
    match ctx.metric("missing")?.value()? {
        MetricValue::NoData => {}
        other => {
            return Err(WorkerError::invalid(format!(
                "metric missing is {other:?}, want no data"
            )));
        }
    }
    let previous = ctx.status_info().cloned().unwrap_or_default();
    let checks = previous.checks.unwrap_or(0) + 1;
    let info = Info {
        seen: previous.seen,
        checks: Some(checks),
        last_query: Some(one.query.clone()),
    };
    let outcome = if checks < 2 {
        Outcome::stay().requeue_after(Duration::from_millis(300))
    } else {
        Outcome::next("Done").event_normal("Checked", format!("one={value} missing=no-data"))
    };
    Ok(outcome.output(probe_config_map(&ctx))?.status(info))
}

/// Finalize calls seen per `namespace/name`: the first answers "not yet", the rest "done".
fn finalize_calls() -> &'static Mutex<HashMap<String, u32>> {
    static CALLS: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    CALLS.get_or_init(Mutex::default)
}

async fn finalize(ctx: Context<Spec, Info>) -> Result<Finalized, WorkerError> {
    let key = format!("{}/{}", ctx.namespace().unwrap_or_default(), ctx.name());
    let calls = {
        let mut calls = finalize_calls().lock().expect("finalize counter poisoned");
        let n = calls.entry(key).or_default();
        *n += 1;
        *n
    };
    Ok(if calls == 1 {
        Finalized::not_yet().requeue_after(Duration::from_millis(200))
    } else {
        Finalized::done()
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    Worker::<Spec, Info>::new("conformance-rust")
        .version(env!("CARGO_PKG_VERSION"))
        .phase("Preparing", preparing)
        .phase("Checking", checking)
        .finalize(finalize)
        .serve_from_env()
        .await?;
    Ok(())
}
