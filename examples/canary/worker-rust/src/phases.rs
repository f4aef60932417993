//! The phase handlers: read the inputs, decide with [`analysis`], answer with [`release`]
//! objects, a new statusInfo and an Event for every step.
use std::time::{Duration, SystemTime};

use autopilot_sdk::{Context, Metric, MetricValue, Outcome, Trace, WorkerError};
use serde_json::Value;

use crate::analysis::{self, Gate, Reading, SpanReading, Step, Verdict};
use crate::model::{Checks, Info, QueryResult, Release, Spec, Strategy, Traffic};
use crate::release;
use crate::revision;
use crate::traffic::{self, Split};

/// The input names of `autopilot.yaml`.
const DEPLOYMENTS: &str = "deployments";
const SUCCESS_RATE: &str = "istio-success-rate";
const LATENCY_P99: &str = "istio-latency-p99";
const LINKERD_SUCCESS_RATE: &str = "linkerd-success-rate";
const LINKERD_LATENCY_P99: &str = "linkerd-latency-p99";
const CANARY_SPANS: &str = "canary-spans";

/// How soon to look again for a target Deployment that does not exist yet.
const TARGET_RETRY: Duration = Duration::from_secs(5);

/// How soon to look again at a Deployment whose replicas are not all ready.
const READY_RETRY: Duration = Duration::from_secs(1);

type Handled = Result<Outcome<Info>, WorkerError>;

/// Creates the primary and canary Deployments, their Services and a route sending everything
/// to the primary; waits (without failing) for the target to exist.
pub async fn initializing(ctx: Context<Spec, Info>) -> Handled {
    let spec = checked(&ctx)?;
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
        .output(traffic::object(spec, traffic::PRIMARY))?
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
    let spec = checked(&ctx)?;
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
    let spec = checked(ctx)?;
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
            // The route is declared at the held split: when a step's route was applied but
            // its status write lost a race with the spec change, this undoes the step.
            let route = traffic::object(spec, traffic::analysing(spec, &info));
            return Ok(suspended(info, started, &state)
                .output(route)?
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
        return Ok(holding(spec, Outcome::next("Promoting"), &info)?
            .event_normal("AnalysisSkipped", info.message.clone())
            .status(info));
    }
    let interval = duration(&spec.interval, "interval")?;
    if let Some(wait) = analysis::until_due(info.last_check_time.as_deref(), interval, now) {
        return Ok(holding(spec, Outcome::stay(), &info)?
            .status(info)
            .requeue_after(wait));
    }
    // No check, and no step, before every canary replica runs the revision and is ready.
    let canary = tracked(deployments, &release::canary_name(spec))?;
    let source = found.map_or(canary, |(target, _)| target);
    if let Err(waiting) = release::rolled_out(canary, source) {
        info.message = format!("waiting for the canary: {waiting}");
        return Ok(holding(spec, Outcome::stay(), &info)?
            .status(info)
            .requeue_after(READY_RETRY));
    }

    let mut queries = Vec::new();
    let mut metrics = None;
    if spec.checks != Checks::Traces {
        let (rate_name, p99_name) = metric_names(spec);
        let (rate, rate_query) = reading(ctx.metric(rate_name)?, "successRate");
        let (p99, p99_query) = reading(ctx.metric(p99_name)?, "latencyP99");
        queries.extend([rate_query, p99_query]);
        metrics = Some((rate, p99));
    }
    let mut spans = None;
    if spec.checks != Checks::Metrics {
        let (reading, query) = span_reading(ctx.trace(CANARY_SPANS)?);
        queries.push(query);
        spans = Some(reading);
    }
    let verdict = analysis::judge_check(
        spec,
        metrics.as_ref().map(|(rate, p99)| (rate, p99)),
        spans.as_ref(),
    );
    let step = analysis::step(spec, &info, &verdict);
    info.iteration += 1;
    if matches!(verdict, Verdict::Healthy(_)) {
        info.passed_checks += 1;
    }
    info.last_check_time = Some(timestamp(now));
    info.last_queries = queries;
    info.failing_operation = match (&verdict, &spans) {
        (Verdict::Unhealthy(_), Some(spans)) => analysis::failing_operation(spec, spans),
        _ => None,
    };
    let found = match &verdict {
        Verdict::Healthy(m) | Verdict::Unhealthy(m) | Verdict::Hold(m) => m.clone(),
    };
    let check = format!("check {}: {found}", info.iteration);

    let outcome = match step {
        Step::Advance { weight } => {
            let before = info.current_weight;
            info.current_weight = weight;
            info.message = format!("{check}; {}", progress(spec, &info));
            let reason = if weight != before {
                "WeightIncreased"
            } else if spec
                .mirror
                .is_some_and(|m| info.passed_checks == m.iterations)
            {
                "MirrorEnded"
            } else {
                "CheckPassed"
            };
            Outcome::stay().event_normal(reason, info.message.clone())
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
    // Every handling re-declares the split the analysis holds, so a route applied by a step
    // whose status write was lost is set back.
    Ok(holding(spec, outcome, &info)?
        .status(info)
        .requeue_after(interval))
}

/// Copies the released template (the canary's) to the primary; once every primary replica runs
/// it and is ready, routes everything to the primary and scales the canary down. Until then the
/// canary keeps its share of the traffic.
pub async fn promoting(ctx: Context<Spec, Info>) -> Handled {
    let spec = checked(&ctx)?;
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
        // The canary keeps its traffic (blue/green: all of it) until the primary has rolled out.
        let split = traffic::promoting(spec, &info);
        info.message = format!(
            "promoting revision {revision} ({}): {waiting}",
            traffic::describe(split)
        );
        return Ok(Outcome::stay()
            .output(release::deployment(
                &release::primary_name(spec),
                source,
                replicas,
            ))?
            .output(traffic::object(spec, split))?
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
    // Traffic back to the primary before the canary scales down.
    Ok(Outcome::next("Waiting")
        .output(release::deployment(
            &release::primary_name(spec),
            source,
            replicas,
        ))?
        .output(traffic::object(spec, traffic::PRIMARY))?
        .output(release::deployment(&release::canary_name(spec), source, 0))?
        .condition("Promoted", true, "Succeeded", info.message.clone())
        .event_normal("Promoted", info.message.clone())
        .status(info))
}

/// Routes everything back to the primary and scales the canary down.
pub async fn rolling_back(ctx: Context<Spec, Info>) -> Handled {
    let spec = checked(&ctx)?;
    let mut info = ctx.status_info().cloned().unwrap_or_default();
    let canary = tracked(ctx.objects_json(DEPLOYMENTS)?, &release::canary_name(spec))?;
    let revision = info.canary_revision.clone();
    info.current_weight = 0;
    let blamed = info
        .failing_operation
        .as_ref()
        .map(|op| format!(" (failing operation {op:?})"))
        .unwrap_or_default();
    info.message = format!(
        "revision {revision} rolled back after {} failed checks{blamed}; primary keeps {}",
        info.failed_checks, info.primary_revision
    );
    info.record(Release {
        revision,
        outcome: "failed".into(),
        finished_at: timestamp(SystemTime::now()),
        message: info.message.clone(),
    });
    Ok(Outcome::next("Waiting")
        .output(traffic::object(spec, traffic::PRIMARY))?
        .output(release::deployment(&release::canary_name(spec), canary, 0))?
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
        (analysis::start_weight(spec), release::replicas(target))
    };
    info.canary_revision = revision.clone();
    info.current_weight = weight;
    info.iteration = 0;
    info.failed_checks = 0;
    info.passed_checks = 0;
    info.last_queries.clear();
    info.failing_operation = None;
    info.last_check_time = (!skip).then(|| timestamp(SystemTime::now()));
    let split = if skip {
        traffic::PRIMARY
    } else {
        traffic::analysing(spec, &info)
    };
    info.message = if skip {
        format!("promoting revision {revision} without analysis (skipAnalysis)")
    } else {
        format!(
            "analysing revision {revision}: {}",
            traffic::describe(split)
        )
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
        .output(traffic::object(spec, split))?
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

/// The spec, once its strategy, traffic, mirror and match fit together (a permanent error
/// naming the field otherwise: nothing is applied for a spec that cannot be carried out).
fn checked(ctx: &Context<Spec, Info>) -> Result<&Spec, WorkerError> {
    let spec = ctx.spec();
    traffic::check(spec).map_err(WorkerError::invalid)?;
    Ok(spec)
}

/// `outcome` with the traffic object at the split the analysis in `info` holds.
fn holding(spec: &Spec, outcome: Outcome<Info>, info: &Info) -> Result<Outcome<Info>, WorkerError> {
    outcome.output(traffic::object(spec, traffic::analysing(spec, info)))
}

/// Where a healthy analysis stands, for the message: the split, and the healthy checks counted
/// towards promotion when they are not weight steps.
fn progress(spec: &Spec, info: &Info) -> String {
    let split = traffic::analysing(spec, info);
    let mirrored = spec.mirror.map_or(0, |m| m.iterations);
    let counted = match (split, spec.strategy) {
        (Split::Mirrored(_), _) => format!(
            " ({} of {mirrored} healthy checks under mirroring)",
            info.passed_checks
        ),
        (_, Strategy::Canary) => String::new(),
        (_, Strategy::AbTesting | Strategy::BlueGreen) => format!(
            " ({} of {} healthy checks to promotion)",
            info.passed_checks.saturating_sub(mirrored),
            spec.iterations
        ),
    };
    format!("{}{counted}", traffic::describe(split))
}

/// The success-rate and p99 queries of the mesh: Linkerd's proxy metrics under
/// `traffic: linkerd`, Istio's standard metrics otherwise.
fn metric_names(spec: &Spec) -> (&'static str, &'static str) {
    if spec.traffic == Traffic::Linkerd {
        (LINKERD_SUCCESS_RATE, LINKERD_LATENCY_P99)
    } else {
        (SUCCESS_RATE, LATENCY_P99)
    }
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

/// The trace check's reading of the canary's spans, and its line in `lastQueries` (the value
/// is the worst operation's error-span ratio).
fn span_reading(trace: &Trace) -> (SpanReading, QueryResult) {
    let (reading, result) = match trace.stats() {
        Err(_) => (
            SpanReading::Unavailable(trace.error.clone().unwrap_or_default()),
            "error",
        ),
        Ok(None) => (SpanReading::NoData, "noData"),
        Ok(Some(_)) => {
            let pick = |o: Option<&autopilot_sdk::SpanStats>,
                        f: fn(&autopilot_sdk::SpanStats) -> f64| {
                o.map(|o| (o.operation.clone(), f(o))).unwrap_or_default()
            };
            let worst = trace.worst_operation().or(trace.operations.first());
            (
                SpanReading::Spans {
                    worst: pick(worst, |o| o.error_ratio),
                    slowest: pick(trace.slowest_operation(), |o| o.p99_ms),
                },
                "ok",
            )
        }
    };
    let value = match &reading {
        SpanReading::Spans { worst, .. } => Some(worst.1),
        _ => None,
    };
    let query = QueryResult {
        name: "canarySpans".into(),
        query: trace.query.clone(),
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
