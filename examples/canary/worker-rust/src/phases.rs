//! The phase handlers: read the inputs, decide with [`analysis`], answer with [`release`]
//! objects, a new statusInfo and an Event for every step.
use std::time::{Duration, SystemTime};

use autopilot_sdk::{Context, Metric, MetricValue, Outcome, WorkerError};
use serde_json::Value;

use crate::analysis::{self, Gate, Reading, Step, Verdict};
use crate::model::{Info, QueryResult, Release, Spec};
use crate::release;
use crate::revision;

/// The input names of `autopilot.yaml`.
const DEPLOYMENTS: &str = "deployments";
const SUCCESS_RATE: &str = "istio-success-rate";
const LATENCY_P99: &str = "istio-latency-p99";

/// How soon to look again for a target Deployment that does not exist yet.
const TARGET_RETRY: Duration = Duration::from_secs(5);

/// How soon to look again at a Deployment whose replicas are not all ready.
const READY_RETRY: Duration = Duration::from_secs(1);

type Handled = Result<Outcome<Info>, WorkerError>;

/// Creates the primary and canary Deployments, their Services and a route sending everything
/// to the primary; waits (without failing) for the target to exist.
pub async fn initializing(ctx: Context<Spec, Info>) -> Handled {
    let spec = ctx.spec();
    let mut info = ctx.status_info().cloned().unwrap_or_default();
    let deployments = ctx.objects_json(DEPLOYMENTS)?;
    let Some((target, revision)) = target(spec, deployments) else {
        return Ok(target_missing(spec, info));
    };
    let replicas = release::replicas(target);
    info.primary_revision = revision.clone();
    info.current_weight = 0;
    info.message = format!("primary serves revision {revision}");
    let mut outcome = Outcome::next("Waiting")
        .output(release::deployment(
            &release::primary_name(spec),
            target,
            replicas,
        ))?
        .output(release::deployment(&release::canary_name(spec), target, 0))?;
    for service in release::services(spec) {
        outcome = outcome.output(service)?;
    }
    Ok(outcome
        .output(release::route(spec, 0)?)?
        .status(info)
        .event_normal(
            "Initialized",
            format!(
                "{} serves revision {revision} with 100% of the traffic",
                release::primary_name(spec)
            ),
        ))
}

/// Waits for a pod template the operator has not seen, then starts its analysis, or promotes
/// it under `skipAnalysis`. While suspended, a new revision is noticed but not started.
pub async fn waiting(ctx: Context<Spec, Info>) -> Handled {
    let spec = ctx.spec();
    let mut info = ctx.status_info().cloned().unwrap_or_default();
    let Some((target, revision)) = target(spec, ctx.objects_json(DEPLOYMENTS)?) else {
        return Ok(target_missing(spec, info));
    };
    let new = analysis::is_new_revision(&revision, &info);
    let resumed = match analysis::gate(spec, &info) {
        Gate::Suspend { started } => {
            let state = if new {
                format!("new revision {revision} waits")
            } else {
                format!("primary serves revision {}", info.primary_revision)
            };
            return Ok(suspended(info, started, &state));
        }
        Gate::Skip { resumed } | Gate::Analyse { resumed } => resumed,
    };
    info.suspended = false;
    let outcome = if !new {
        if resumed {
            info.message = format!("primary serves revision {}", info.primary_revision);
        }
        Outcome::stay().status(info)
    } else {
        let next = if spec.skip_analysis {
            "Promoting"
        } else {
            "Evaluating"
        };
        start_release(spec, Outcome::next(next), info, target, revision, None)?
    };
    Ok(note_resumed(outcome, resumed))
}

/// One check per interval, once the canary's replicas are all ready: restart on a newer
/// revision, else judge the canary's metrics and step its weight, count a failure, hold,
/// promote or roll back.
pub async fn evaluating(ctx: Context<Spec, Info>) -> Handled {
    evaluate_at(&ctx, SystemTime::now())
}

/// [`evaluating`] at a given time (what the tests call).
///
/// # Errors
///
/// As [`evaluating`]: a missing input, or an `interval` that is not a duration.
pub fn evaluate_at(ctx: &Context<Spec, Info>, now: SystemTime) -> Handled {
    let spec = ctx.spec();
    let mut info = ctx.status_info().cloned().unwrap_or_default();
    let deployments = ctx.objects_json(DEPLOYMENTS)?;
    let found = target(spec, deployments);
    let newer = found
        .as_ref()
        .map(|(_, revision)| revision)
        .filter(|revision| **revision != info.canary_revision);
    let resumed = match analysis::gate(spec, &info) {
        Gate::Suspend { started } => {
            let mut state = format!(
                "revision {} held at {}%",
                info.canary_revision, info.current_weight
            );
            if let Some(newer) = newer {
                state.push_str(&format!("; newer revision {newer} waits"));
            }
            return Ok(suspended(info, started, &state)
                .requeue_after(duration(&spec.interval, "interval")?));
        }
        Gate::Skip { resumed } | Gate::Analyse { resumed } => resumed,
    };
    info.suspended = false;
    let outcome = check(ctx, found, info, now)?;
    Ok(note_resumed(outcome, resumed))
}

/// [`evaluate_at`] past the gates: restart on a newer revision, promote under `skipAnalysis`,
/// or make a check when one is due.
fn check(
    ctx: &Context<Spec, Info>,
    found: Option<(&Value, String)>,
    mut info: Info,
    now: SystemTime,
) -> Handled {
    let spec = ctx.spec();
    let deployments = ctx.objects_json(DEPLOYMENTS)?;
    if let Some((target, revision)) = found.clone()
        && revision != info.canary_revision
    {
        let replaced = info.canary_revision.clone();
        let outcome = if spec.skip_analysis {
            Outcome::next("Promoting")
        } else {
            Outcome::stay()
        };
        return start_release(spec, outcome, info, target, revision, Some(&replaced));
    }
    if spec.skip_analysis {
        // Set mid-analysis: promote the revision under analysis at its current weight.
        info.message = format!(
            "promoting revision {} without further checks (skipAnalysis)",
            info.canary_revision
        );
        return Ok(Outcome::next("Promoting")
            .event_normal("AnalysisSkipped", info.message.clone())
            .status(info));
    }
    let interval = duration(&spec.interval, "interval")?;
    if let Some(wait) = analysis::until_due(info.last_check_time.as_deref(), interval, now) {
        return Ok(Outcome::stay().status(info).requeue_after(wait));
    }
    // No check, and no step, before every canary replica runs the revision and is ready.
    let canary = tracked(deployments, &release::canary_name(spec))?;
    let source = found.map_or(canary, |(target, _)| target);
    if let Err(waiting) = release::rolled_out(canary, source) {
        info.message = format!("waiting for the canary: {waiting}");
        return Ok(Outcome::stay().status(info).requeue_after(READY_RETRY));
    }

    let (rate, rate_query) = reading(ctx.metric(SUCCESS_RATE)?, "successRate");
    let (p99, p99_query) = reading(ctx.metric(LATENCY_P99)?, "latencyP99");
    let verdict = analysis::judge(spec, &rate, &p99);
    let step = analysis::step(spec, &info, &verdict);
    info.iteration += 1;
    info.last_check_time = Some(timestamp(now));
    info.last_queries = vec![rate_query, p99_query];
    let found = match &verdict {
        Verdict::Healthy(m) | Verdict::Unhealthy(m) | Verdict::Hold(m) => m.clone(),
    };
    let check = format!("check {}: {found}", info.iteration);

    let outcome = match step {
        Step::Advance { weight } => {
            info.current_weight = weight;
            info.message = format!("{check}; canary weight {weight}%");
            Outcome::stay()
                .output(release::route(spec, weight)?)?
                .event_normal("WeightIncreased", info.message.clone())
        }
        Step::Promote => {
            info.message = format!("{check}; promoting revision {}", info.canary_revision);
            Outcome::next("Promoting").event_normal("AnalysisSucceeded", info.message.clone())
        }
        Step::Hold => {
            info.message = format!("{check}; holding at {}%", info.current_weight);
            Outcome::stay().event_warning("NoData", info.message.clone())
        }
        Step::Failed { failed_checks } => {
            info.failed_checks = failed_checks;
            info.message = format!(
                "{check}; failed check {failed_checks} of {}",
                spec.failure_limit
            );
            Outcome::stay().event_warning("CheckFailed", info.message.clone())
        }
        Step::RollBack { failed_checks } => {
            info.failed_checks = failed_checks;
            info.message = format!(
                "{check}; failure limit {} reached, rolling back",
                spec.failure_limit
            );
            Outcome::next("RollingBack").event_warning("AnalysisFailed", info.message.clone())
        }
    };
    Ok(outcome.status(info).requeue_after(interval))
}

/// Copies the released template (the canary's) to the primary; once every primary replica runs
/// it and is ready, routes everything to the primary and scales the canary down. Until then the
/// canary keeps its share of the traffic.
pub async fn promoting(ctx: Context<Spec, Info>) -> Handled {
    let spec = ctx.spec();
    let mut info = ctx.status_info().cloned().unwrap_or_default();
    let deployments = ctx.objects_json(DEPLOYMENTS)?;
    let revision = info.canary_revision.clone();
    // The template released: the target's while it still holds the revision (under
    // skipAnalysis the canary written a moment ago may not be in the cache yet), else the
    // canary's, which holds the analysed revision.
    let source = match target(spec, deployments) {
        Some((target, current)) if current == revision => target,
        _ => tracked(deployments, &release::canary_name(spec))?,
    };
    let primary = release::find(deployments, &release::primary_name(spec));
    let replicas = primary.map_or_else(|| release::replicas(source), release::replicas);
    let rollout = primary.map_or_else(
        || {
            Err(format!(
                "{} is not in the cache yet",
                release::primary_name(spec)
            ))
        },
        |primary| release::rolled_out(primary, source),
    );
    if let Err(waiting) = rollout {
        info.message = format!("promoting revision {revision}: {waiting}");
        return Ok(Outcome::stay()
            .output(release::deployment(
                &release::primary_name(spec),
                source,
                replicas,
            ))?
            .status(info)
            .requeue_after(READY_RETRY));
    }
    info.primary_revision = revision.clone();
    info.current_weight = 0;
    info.message = if info.iteration == 0 && spec.skip_analysis {
        format!("revision {revision} promoted without analysis (skipAnalysis)")
    } else {
        format!(
            "revision {revision} promoted after {} checks",
            info.iteration
        )
    };
    info.record(Release {
        revision: revision.clone(),
        outcome: "promoted".into(),
        finished_at: timestamp(SystemTime::now()),
        message: info.message.clone(),
    });
    Ok(Outcome::next("Waiting")
        .output(release::deployment(
            &release::primary_name(spec),
            source,
            replicas,
        ))?
        .output(release::deployment(&release::canary_name(spec), source, 0))?
        .output(release::route(spec, 0)?)?
        .condition("Promoted", true, "Succeeded", info.message.clone())
        .event_normal("Promoted", info.message.clone())
        .status(info))
}

/// Routes everything back to the primary and scales the canary down.
pub async fn rolling_back(ctx: Context<Spec, Info>) -> Handled {
    let spec = ctx.spec();
    let mut info = ctx.status_info().cloned().unwrap_or_default();
    let canary = tracked(ctx.objects_json(DEPLOYMENTS)?, &release::canary_name(spec))?;
    let revision = info.canary_revision.clone();
    info.current_weight = 0;
    info.message = format!(
        "revision {revision} rolled back after {} failed checks; primary keeps {}",
        info.failed_checks, info.primary_revision
    );
    info.record(Release {
        revision,
        outcome: "failed".into(),
        finished_at: timestamp(SystemTime::now()),
        message: info.message.clone(),
    });
    Ok(Outcome::next("Waiting")
        .output(release::deployment(&release::canary_name(spec), canary, 0))?
        .output(release::route(spec, 0)?)?
        .condition("Promoted", false, "RolledBack", info.message.clone())
        .event_warning("RolledBack", info.message.clone())
        .status(info))
}

/// Starts the release of `revision` (it `replaces` one under analysis, if any). To analyse it,
/// the canary gets the target's template and replicas, and one step of the traffic; under
/// `skipAnalysis` it gets the template without replicas or traffic, and Promoting rolls it out
/// to the primary.
fn start_release(
    spec: &Spec,
    outcome: Outcome<Info>,
    mut info: Info,
    target: &Value,
    revision: String,
    replaces: Option<&str>,
) -> Handled {
    let skip = spec.skip_analysis;
    let (weight, replicas) = if skip {
        (0, 0)
    } else {
        (analysis::first_weight(spec), release::replicas(target))
    };
    info.canary_revision = revision.clone();
    info.current_weight = weight;
    info.iteration = 0;
    info.failed_checks = 0;
    info.last_queries.clear();
    info.last_check_time = (!skip).then(|| timestamp(SystemTime::now()));
    info.message = if skip {
        format!("promoting revision {revision} without analysis (skipAnalysis)")
    } else {
        format!("analysing revision {revision} at {weight}%")
    };
    let reason = match (skip, replaces) {
        (true, _) => "AnalysisSkipped",
        (false, Some(_)) => "AnalysisRestarted",
        (false, None) => "NewRevision",
    };
    let message = match replaces {
        Some(old) => format!(
            "revision {revision} replaced {old} mid-analysis; {}",
            info.message
        ),
        None => info.message.clone(),
    };
    let outcome = outcome
        .output(release::deployment(
            &release::canary_name(spec),
            target,
            replicas,
        ))?
        .output(release::route(spec, weight)?)?
        .condition("Promoted", false, "Progressing", message.clone())
        .event_normal(reason, message)
        .status(info);
    if skip {
        Ok(outcome)
    } else {
        Ok(outcome.requeue_after(duration(&spec.interval, "interval")?))
    }
}

/// Holds the release under `spec.suspend`: no output, `state` in the message, and the
/// `Suspended` condition and Event when the suspension `started`.
fn suspended(mut info: Info, started: bool, state: &str) -> Outcome<Info> {
    info.suspended = true;
    info.message = format!("suspended (spec.suspend): {state}");
    let outcome = if started {
        Outcome::stay()
            .condition("Suspended", true, "Suspended", info.message.clone())
            .event_normal("Suspended", info.message.clone())
    } else {
        Outcome::stay()
    };
    outcome.status(info)
}

/// Adds the `Resumed` Event and clears the `Suspended` condition when the release `resumed`.
fn note_resumed(outcome: Outcome<Info>, resumed: bool) -> Outcome<Info> {
    if !resumed {
        return outcome;
    }
    let message = "resumed (spec.suspend is false)";
    outcome
        .condition("Suspended", false, "Resumed", message)
        .event_normal("Resumed", message)
}

/// The target Deployment and its revision, when it exists.
fn target<'a>(spec: &Spec, deployments: &'a [Value]) -> Option<(&'a Value, String)> {
    let target = release::find(deployments, &spec.target_ref)?;
    Some((target, revision::of_deployment(target)?))
}

fn target_missing(spec: &Spec, mut info: Info) -> Outcome<Info> {
    info.message = format!("waiting for Deployment {:?}", spec.target_ref);
    Outcome::stay()
        .event_warning("TargetNotFound", info.message.clone())
        .status(info)
        .requeue_after(TARGET_RETRY)
}

/// A Deployment this operator created, which must exist by now.
fn tracked<'a>(deployments: &'a [Value], name: &str) -> Result<&'a Value, WorkerError> {
    release::find(deployments, name)
        .ok_or_else(|| WorkerError::retryable(format!("Deployment {name:?} not in the cache yet")))
}

fn reading(metric: &Metric, name: &str) -> (Reading, QueryResult) {
    let reading = match metric.value() {
        Ok(MetricValue::Value(v)) => Reading::Value(v),
        Ok(MetricValue::NoData) => Reading::NoData,
        Ok(MetricValue::NaN) => Reading::NaN,
        Err(e) => Reading::Error(metric.error.clone().unwrap_or_else(|| e.to_string())),
    };
    let (result, value) = match &reading {
        Reading::Value(v) => ("ok", Some(*v).filter(|v| v.is_finite())),
        Reading::NoData => ("noData", None),
        Reading::NaN => ("nan", None),
        Reading::Error(_) => ("error", None),
    };
    let query = QueryResult {
        name: name.into(),
        query: metric.query.clone(),
        result: result.into(),
        value,
    };
    (reading, query)
}

fn duration(text: &str, field: &str) -> Result<Duration, WorkerError> {
    humantime::parse_duration(text)
        .map_err(|e| WorkerError::invalid(format!("spec.{field} {text:?}: {e}")))
}

fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests;
