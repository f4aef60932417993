"""The phase handlers: read the inputs, decide with `analysis`, answer with `release` objects,
a new statusInfo and an Event for every step."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from autopilot_sdk import Context, Metric, Outcome, Trace, WorkerError

from canary_worker import analysis, release, revision, traffic
from canary_worker.model import Info, QueryResult, Release, Spec

DEPLOYMENTS = "deployments"
SUCCESS_RATE = "istio-success-rate"
LATENCY_P99 = "istio-latency-p99"
LINKERD_SUCCESS_RATE = "linkerd-success-rate"
LINKERD_LATENCY_P99 = "linkerd-latency-p99"
CANARY_SPANS = "canary-spans"
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
    spec, info = _checked(ctx), _info(ctx)
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
        outcome.output(traffic.object_for(spec, traffic.PRIMARY))
        .status(info)
        .event_normal(
            "Initialized",
            f"{release.primary_name(spec)} serves revision {rev} with 100% of the traffic",
        )
    )


def waiting(ctx: Ctx) -> Outcome:
    """Waits for a pod template the operator has not seen, then starts its analysis, or promotes
    it under `skipAnalysis`. While suspended, a new revision is noticed but not started."""
    spec, info = _checked(ctx), _info(ctx)
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


def _span_reading(trace: Trace) -> tuple[analysis.SpanReading, QueryResult]:
    """The trace check's reading, and its line in lastQueries (the worst operation's ratio)."""
    try:
        stats = trace.stats()
    except WorkerError:
        reading = analysis.SpanReading("unavailable", error=trace.error or "")
    else:
        if stats is None:
            reading = analysis.SpanReading("noData")
        else:
            worst = trace.worst_operation() or (trace.operations[0] if trace.operations else None)
            slowest = trace.slowest_operation()
            reading = analysis.SpanReading(
                "ok",
                worst=(worst.operation, worst.error_ratio) if worst else ("", 0.0),
                slowest=(slowest.operation, slowest.p99_ms) if slowest else ("", 0.0),
            )
    result = {"ok": "ok", "noData": "noData", "unavailable": "error"}[reading.kind]
    value = reading.worst[1] if reading.kind == "ok" else None
    return reading, QueryResult(name="canarySpans", query=trace.query, result=result, value=value)


def evaluate_at(ctx: Ctx, now: datetime) -> Outcome:
    """Holds while suspended; restarts on a newer revision; promotes under `skipAnalysis`; else,
    once the canary's replicas are all ready, judges the canary and steps, holds, fails,
    promotes or rolls back."""
    spec, info = _checked(ctx), _info(ctx)
    found = _target(spec, ctx.objects(DEPLOYMENTS))
    gate = analysis.gate(spec, info)
    if gate.kind == "suspend":
        state = f"revision {info.canary_revision} held at {info.current_weight}%"
        if found is not None and found[1] != info.canary_revision:
            state += f"; newer revision {found[1]} waits"
        # The route is declared at the held split: when a step's route was applied but its
        # status write lost a race with the spec change, this undoes the step.
        route = traffic.object_for(spec, traffic.analysing(spec, info))
        return _suspended(info, gate.changed, state).output(route).requeue_after(_interval(spec))
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
        return (
            _holding(spec, Outcome.next("Promoting"), info)
            .event_normal("AnalysisSkipped", info.message)
            .status(info)
        )
    interval = _interval(spec)
    wait = analysis.until_due(info.last_check_time, interval, now)
    if wait is not None:
        return _holding(spec, Outcome.stay(), info).status(info).requeue_after(wait)
    # No check, and no step, before every canary replica runs the revision and is ready.
    canary = _tracked(deployments, release.canary_name(spec))
    waiting_for = release.rolled_out(canary, found[0] if found is not None else canary)
    if waiting_for is not None:
        info.message = f"waiting for the canary: {waiting_for}"
        return _holding(spec, Outcome.stay(), info).status(info).requeue_after(READY_RETRY)

    queries: list[QueryResult] = []
    metrics: tuple[analysis.Reading, analysis.Reading] | None = None
    if spec.checks != "traces":
        rate_name, p99_name = _metric_names(spec)
        rate, rate_query = _reading(ctx.metric(rate_name), "successRate")
        p99, p99_query = _reading(ctx.metric(p99_name), "latencyP99")
        queries += [rate_query, p99_query]
        metrics = (rate, p99)
    spans: analysis.SpanReading | None = None
    if spec.checks != "metrics":
        spans, spans_query = _span_reading(ctx.trace(CANARY_SPANS))
        queries.append(spans_query)
    verdict = analysis.judge_check(spec, metrics, spans)
    step = analysis.step(spec, info, verdict)
    info.iteration += 1
    if verdict.kind == "healthy":
        info.passed_checks += 1
    info.last_check_time = _timestamp(now)
    info.last_queries = queries
    info.failing_operation = (
        analysis.failing_operation(spec, spans)
        if verdict.kind == "unhealthy" and spans is not None
        else None
    )
    check = f"check {info.iteration}: {verdict.message}"

    if step.kind == "advance":
        before = info.current_weight
        info.current_weight = step.weight
        info.message = f"{check}; {_progress(spec, info)}"
        if step.weight != before:
            reason = "WeightIncreased"
        elif spec.mirror is not None and info.passed_checks == spec.mirror.iterations:
            reason = "MirrorEnded"
        else:
            reason = "CheckPassed"
        outcome = Outcome.stay().event_normal(reason, info.message)
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
    # Every handling re-declares the split the analysis holds, so a route applied by a step
    # whose status write was lost is set back.
    return _holding(spec, outcome, info).status(info).requeue_after(interval)


def promoting(ctx: Ctx) -> Outcome:
    """Copies the released template (the canary's) to the primary; once every primary replica
    runs it and is ready, routes everything to the primary and scales the canary down. Until
    then the canary keeps its share of the traffic."""
    spec, info = _checked(ctx), _info(ctx)
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
        # The canary keeps its traffic (blue/green: all of it) until the primary has rolled out.
        split = traffic.promoting(spec, info)
        info.message = f"promoting revision {rev} ({traffic.describe(split)}): {waiting_for}"
        return (
            Outcome.stay()
            .output(release.deployment(release.primary_name(spec), source, count))
            .output(traffic.object_for(spec, split))
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
    # Traffic back to the primary before the canary scales down.
    return (
        Outcome.next("Waiting")
        .output(release.deployment(release.primary_name(spec), source, count))
        .output(traffic.object_for(spec, traffic.PRIMARY))
        .output(release.deployment(release.canary_name(spec), source, 0))
        .condition("Promoted", True, "Succeeded", info.message)
        .event_normal("Promoted", info.message)
        .status(info)
    )


def rolling_back(ctx: Ctx) -> Outcome:
    """Routes everything back to the primary and scales the canary down."""
    spec, info = _checked(ctx), _info(ctx)
    canary = _tracked(ctx.objects(DEPLOYMENTS), release.canary_name(spec))
    rev = info.canary_revision
    info.current_weight = 0
    blamed = f' (failing operation "{info.failing_operation}")' if info.failing_operation else ""
    info.message = (
        f"revision {rev} rolled back after {info.failed_checks} failed checks{blamed}; "
        f"primary keeps {info.primary_revision}"
    )
    info.record(
        Release(
            revision=rev, outcome="failed", finished_at=_timestamp(_now()), message=info.message
        )
    )
    return (
        Outcome.next("Waiting")
        .output(traffic.object_for(spec, traffic.PRIMARY))
        .output(release.deployment(release.canary_name(spec), canary, 0))
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
    weight, count = (0, 0) if skip else (analysis.start_weight(spec), release.replicas(target))
    info.canary_revision = rev
    info.current_weight = weight
    info.iteration = 0
    info.failed_checks = 0
    info.passed_checks = 0
    info.last_queries = []
    info.failing_operation = None
    info.last_check_time = None if skip else _timestamp(_now())
    split = traffic.PRIMARY if skip else traffic.analysing(spec, info)
    if skip:
        info.message = f"promoting revision {rev} without analysis (skipAnalysis)"
        reason = "AnalysisSkipped"
    else:
        info.message = f"analysing revision {rev}: {traffic.describe(split)}"
        reason = "NewRevision" if replaces is None else "AnalysisRestarted"
    message = (
        info.message
        if replaces is None
        else f"revision {rev} replaced {replaces} mid-analysis; {info.message}"
    )
    outcome = (
        outcome.output(release.deployment(release.canary_name(spec), target, count))
        .output(traffic.object_for(spec, split))
        .condition("Promoted", False, "Progressing", message)
        .event_normal(reason, message)
        .status(info)
    )
    return outcome if skip else outcome.requeue_after(_interval(spec))


def _metric_names(spec: Spec) -> tuple[str, str]:
    """The success-rate and p99 queries of the mesh: Linkerd's proxy metrics under
    traffic: linkerd, Istio's standard metrics otherwise."""
    if spec.traffic == "linkerd":
        return LINKERD_SUCCESS_RATE, LINKERD_LATENCY_P99
    return SUCCESS_RATE, LATENCY_P99


def _checked(ctx: Ctx) -> Spec:
    """The spec, once its strategy, traffic, mirror and match fit together (a permanent error
    naming the field otherwise: nothing is applied for a spec that cannot be carried out)."""
    problem = traffic.check(ctx.spec)
    if problem is not None:
        raise WorkerError.invalid(problem)
    return ctx.spec


def _holding(spec: Spec, outcome: Outcome, info: Info) -> Outcome:
    """`outcome` with the traffic object at the split the analysis in `info` holds."""
    return outcome.output(traffic.object_for(spec, traffic.analysing(spec, info)))


def _progress(spec: Spec, info: Info) -> str:
    """Where a healthy analysis stands: the split, and the healthy checks counted towards
    promotion when they are not weight steps."""
    split = traffic.analysing(spec, info)
    mirrored = spec.mirror.iterations if spec.mirror is not None else 0
    if split.kind == "mirrored":
        counted = f" ({info.passed_checks} of {mirrored} healthy checks under mirroring)"
    elif spec.strategy == "canary":
        counted = ""
    else:
        counted = (
            f" ({max(info.passed_checks - mirrored, 0)} of {spec.iterations}"
            " healthy checks to promotion)"
        )
    return f"{traffic.describe(split)}{counted}"


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
