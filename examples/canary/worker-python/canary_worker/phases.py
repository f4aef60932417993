"""The phase handlers: read the inputs, decide with `analysis`, answer with `release` objects,
a new statusInfo and an Event for every step."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from autopilot_sdk import Context, Metric, Outcome, WorkerError

from canary_worker import analysis, release, revision
from canary_worker.model import Info, QueryResult, Release, Spec

DEPLOYMENTS = "deployments"
SUCCESS_RATE = "istio-success-rate"
LATENCY_P99 = "istio-latency-p99"
TARGET_RETRY = timedelta(seconds=5)
"""How soon to look again for a target Deployment that does not exist yet."""
READY_RETRY = timedelta(seconds=1)
"""How soon to look again at a Deployment whose replicas are not all ready."""

Ctx = Context[Spec, Info]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _timestamp(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _info(ctx: Ctx) -> Info:
    return ctx.status_info.model_copy(deep=True) if ctx.status_info is not None else Info()


def _interval(spec: Spec) -> timedelta:
    try:
        return analysis.parse_duration(spec.interval)
    except ValueError as err:
        raise WorkerError.invalid(f"spec.interval {spec.interval!r}: {err}") from err


def _target(spec: Spec, deployments: list[dict[str, Any]]) -> tuple[dict[str, Any], str] | None:
    target = release.find(deployments, spec.target_ref)
    if target is None:
        return None
    rev = revision.of_deployment(target)
    return None if rev is None else (target, rev)


def _target_missing(spec: Spec, info: Info) -> Outcome:
    info.message = f'waiting for Deployment "{spec.target_ref}"'
    return (
        Outcome.stay()
        .event_warning("TargetNotFound", info.message)
        .status(info)
        .requeue_after(TARGET_RETRY)
    )


def _tracked(deployments: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = release.find(deployments, name)
    if found is None:
        raise WorkerError.retryable(f'Deployment "{name}" not in the cache yet')
    return found


def initializing(ctx: Ctx) -> Outcome:
    """Creates the primary and canary Deployments, their Services and a route to the primary."""
    spec, info = ctx.spec, _info(ctx)
    found = _target(spec, ctx.objects(DEPLOYMENTS))
    if found is None:
        return _target_missing(spec, info)
    target, rev = found
    info.primary_revision = rev
    info.current_weight = 0
    info.message = f"primary serves revision {rev}"
    outcome = (
        Outcome.next("Waiting")
        .output(release.deployment(release.primary_name(spec), target, release.replicas(target)))
        .output(release.deployment(release.canary_name(spec), target, 0))
    )
    for service in release.services(spec):
        outcome = outcome.output(service)
    return (
        outcome.output(release.route(spec, 0))
        .status(info)
        .event_normal(
            "Initialized",
            f"{release.primary_name(spec)} serves revision {rev} with 100% of the traffic",
        )
    )


def waiting(ctx: Ctx) -> Outcome:
    """Waits for a pod template the operator has not seen, then starts its analysis, or promotes
    it under `skipAnalysis`. While suspended, a new revision is noticed but not started."""
    spec, info = ctx.spec, _info(ctx)
    found = _target(spec, ctx.objects(DEPLOYMENTS))
    if found is None:
        return _target_missing(spec, info)
    target, rev = found
    new = analysis.is_new_revision(rev, info)
    gate = analysis.gate(spec, info)
    if gate.kind == "suspend":
        state = (
            f"new revision {rev} waits"
            if new
            else f"primary serves revision {info.primary_revision}"
        )
        return _suspended(info, gate.changed, state)
    info.suspended = False
    if not new:
        if gate.changed:
            info.message = f"primary serves revision {info.primary_revision}"
        outcome = Outcome.stay().status(info)
    else:
        start = Outcome.next("Promoting" if gate.kind == "skip" else "Evaluating")
        outcome = _start_release(spec, start, info, target, rev, None)
    return _note_resumed(outcome, gate.changed)


def evaluating(ctx: Ctx) -> Outcome:
    """One check per interval (see `evaluate_at`)."""
    return evaluate_at(ctx, _now())


def _reading(metric: Metric, name: str) -> tuple[analysis.Reading, QueryResult]:
    if metric.error is not None:
        reading = analysis.Reading("error", error=metric.error)
    else:
        try:
            reading = analysis.reading_of(metric.value(), metric.no_data, None)
        except WorkerError as err:
            reading = analysis.Reading("error", error=str(err))
    value = reading.value if reading.kind == "ok" else None
    return reading, QueryResult(name=name, query=metric.query, result=reading.kind, value=value)


def evaluate_at(ctx: Ctx, now: datetime) -> Outcome:
    """Holds while suspended; restarts on a newer revision; promotes under `skipAnalysis`; else,
    once the canary's replicas are all ready, judges the canary and steps, holds, fails,
    promotes or rolls back."""
    spec, info = ctx.spec, _info(ctx)
    found = _target(spec, ctx.objects(DEPLOYMENTS))
    gate = analysis.gate(spec, info)
    if gate.kind == "suspend":
        state = f"revision {info.canary_revision} held at {info.current_weight}%"
        if found is not None and found[1] != info.canary_revision:
            state += f"; newer revision {found[1]} waits"
        return _suspended(info, gate.changed, state).requeue_after(_interval(spec))
    info.suspended = False
    return _note_resumed(_check(ctx, found, info, now), gate.changed)


def _check(
    ctx: Ctx, found: tuple[dict[str, Any], str] | None, info: Info, now: datetime
) -> Outcome:
    """`evaluate_at` past the gates."""
    spec = ctx.spec
    deployments = ctx.objects(DEPLOYMENTS)
    if found is not None and found[1] != info.canary_revision:
        start = Outcome.next("Promoting") if spec.skip_analysis else Outcome.stay()
        return _start_release(spec, start, info, found[0], found[1], info.canary_revision)
    if spec.skip_analysis:
        # Set mid-analysis: promote the revision under analysis at its current weight.
        info.message = (
            f"promoting revision {info.canary_revision} without further checks (skipAnalysis)"
        )
        return Outcome.next("Promoting").event_normal("AnalysisSkipped", info.message).status(info)
    interval = _interval(spec)
    wait = analysis.until_due(info.last_check_time, interval, now)
    if wait is not None:
        return Outcome.stay().status(info).requeue_after(wait)
    # No check, and no step, before every canary replica runs the revision and is ready.
    canary = _tracked(deployments, release.canary_name(spec))
    waiting_for = release.rolled_out(canary, found[0] if found is not None else canary)
    if waiting_for is not None:
        info.message = f"waiting for the canary: {waiting_for}"
        return Outcome.stay().status(info).requeue_after(READY_RETRY)

    rate, rate_query = _reading(ctx.metric(SUCCESS_RATE), "successRate")
    p99, p99_query = _reading(ctx.metric(LATENCY_P99), "latencyP99")
    verdict = analysis.judge(spec, rate, p99)
    step = analysis.step(spec, info, verdict)
    info.iteration += 1
    info.last_check_time = _timestamp(now)
    info.last_queries = [rate_query, p99_query]
    check = f"check {info.iteration}: {verdict.message}"

    if step.kind == "advance":
        info.current_weight = step.weight
        info.message = f"{check}; canary weight {step.weight}%"
        outcome = (
            Outcome.stay()
            .output(release.route(spec, step.weight))
            .event_normal("WeightIncreased", info.message)
        )
    elif step.kind == "promote":
        info.message = f"{check}; promoting revision {info.canary_revision}"
        outcome = Outcome.next("Promoting").event_normal("AnalysisSucceeded", info.message)
    elif step.kind == "hold":
        info.message = f"{check}; holding at {info.current_weight}%"
        outcome = Outcome.stay().event_warning("NoData", info.message)
    elif step.kind == "failed":
        info.failed_checks = step.failed_checks
        info.message = f"{check}; failed check {step.failed_checks} of {spec.failure_limit}"
        outcome = Outcome.stay().event_warning("CheckFailed", info.message)
    else:
        info.failed_checks = step.failed_checks
        info.message = f"{check}; failure limit {spec.failure_limit} reached, rolling back"
        outcome = Outcome.next("RollingBack").event_warning("AnalysisFailed", info.message)
    return outcome.status(info).requeue_after(interval)


def promoting(ctx: Ctx) -> Outcome:
    """Copies the released template (the canary's) to the primary; once every primary replica
    runs it and is ready, routes everything to the primary and scales the canary down. Until
    then the canary keeps its share of the traffic."""
    spec, info = ctx.spec, _info(ctx)
    deployments = ctx.objects(DEPLOYMENTS)
    rev = info.canary_revision
    # The template released: the target's while it still holds the revision (under
    # skipAnalysis the canary written a moment ago may not be in the cache yet), else the
    # canary's, which holds the analysed revision.
    found = _target(spec, deployments)
    source = (
        found[0]
        if found is not None and found[1] == rev
        else _tracked(deployments, release.canary_name(spec))
    )
    primary = release.find(deployments, release.primary_name(spec))
    count = release.replicas(primary if primary is not None else source)
    waiting_for = (
        f"{release.primary_name(spec)} is not in the cache yet"
        if primary is None
        else release.rolled_out(primary, source)
    )
    if waiting_for is not None:
        info.message = f"promoting revision {rev}: {waiting_for}"
        return (
            Outcome.stay()
            .output(release.deployment(release.primary_name(spec), source, count))
            .status(info)
            .requeue_after(READY_RETRY)
        )
    info.primary_revision = rev
    info.current_weight = 0
    if info.iteration == 0 and spec.skip_analysis:
        info.message = f"revision {rev} promoted without analysis (skipAnalysis)"
    else:
        info.message = f"revision {rev} promoted after {info.iteration} checks"
    info.record(
        Release(
            revision=rev, outcome="promoted", finished_at=_timestamp(_now()), message=info.message
        )
    )
    return (
        Outcome.next("Waiting")
        .output(release.deployment(release.primary_name(spec), source, count))
        .output(release.deployment(release.canary_name(spec), source, 0))
        .output(release.route(spec, 0))
        .condition("Promoted", True, "Succeeded", info.message)
        .event_normal("Promoted", info.message)
        .status(info)
    )


def rolling_back(ctx: Ctx) -> Outcome:
    """Routes everything back to the primary and scales the canary down."""
    spec, info = ctx.spec, _info(ctx)
    canary = _tracked(ctx.objects(DEPLOYMENTS), release.canary_name(spec))
    rev = info.canary_revision
    info.current_weight = 0
    info.message = (
        f"revision {rev} rolled back after {info.failed_checks} failed checks; "
        f"primary keeps {info.primary_revision}"
    )
    info.record(
        Release(
            revision=rev, outcome="failed", finished_at=_timestamp(_now()), message=info.message
        )
    )
    return (
        Outcome.next("Waiting")
        .output(release.deployment(release.canary_name(spec), canary, 0))
        .output(release.route(spec, 0))
        .condition("Promoted", False, "RolledBack", info.message)
        .event_warning("RolledBack", info.message)
        .status(info)
    )


def _start_release(
    spec: Spec,
    outcome: Outcome,
    info: Info,
    target: dict[str, Any],
    rev: str,
    replaces: str | None,
) -> Outcome:
    """Starts the release of `rev` (it `replaces` one under analysis, if any). To analyse it, the
    canary gets the target's template and replicas, and one step of the traffic; under
    `skipAnalysis` it gets the template without replicas or traffic, and Promoting rolls it out
    to the primary."""
    skip = spec.skip_analysis
    weight, count = (0, 0) if skip else (analysis.first_weight(spec), release.replicas(target))
    info.canary_revision = rev
    info.current_weight = weight
    info.iteration = 0
    info.failed_checks = 0
    info.last_queries = []
    info.last_check_time = None if skip else _timestamp(_now())
    if skip:
        info.message = f"promoting revision {rev} without analysis (skipAnalysis)"
        reason = "AnalysisSkipped"
    else:
        info.message = f"analysing revision {rev} at {weight}%"
        reason = "NewRevision" if replaces is None else "AnalysisRestarted"
    message = (
        info.message
        if replaces is None
        else f"revision {rev} replaced {replaces} mid-analysis; {info.message}"
    )
    outcome = (
        outcome.output(release.deployment(release.canary_name(spec), target, count))
        .output(release.route(spec, weight))
        .condition("Promoted", False, "Progressing", message)
        .event_normal(reason, message)
        .status(info)
    )
    return outcome if skip else outcome.requeue_after(_interval(spec))


def _suspended(info: Info, started: bool, state: str) -> Outcome:
    """Holds the release under `spec.suspend`: no output, `state` in the message, and the
    `Suspended` condition and Event when the suspension `started`."""
    info.suspended = True
    info.message = f"suspended (spec.suspend): {state}"
    outcome = Outcome.stay()
    if started:
        outcome = outcome.condition("Suspended", True, "Suspended", info.message).event_normal(
            "Suspended", info.message
        )
    return outcome.status(info)


def _note_resumed(outcome: Outcome, resumed: bool) -> Outcome:
    """Adds the `Resumed` Event and clears the `Suspended` condition when the release resumed."""
    if not resumed:
        return outcome
    message = "resumed (spec.suspend is false)"
    return outcome.condition("Suspended", False, "Resumed", message).event_normal(
        "Resumed", message
    )
