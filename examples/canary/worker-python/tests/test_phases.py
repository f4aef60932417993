"""The handlers as plain functions, with contexts built by the SDK (same cases as the Rust
worker's tests)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from autopilot_sdk import Context, Metric, Outcome, SpanStats, Trace

from canary_worker import analysis, phases, release, revision, traffic
from canary_worker.model import Info, Release, Spec

SPEC = Spec.model_validate(
    {
        "targetRef": "web",
        "port": 8080,
        "interval": "10s",
        "stepWeight": 20,
        "maxWeight": 40,
        "failureLimit": 2,
        "successThreshold": 0.99,
        "maxLatencyMs": 100,
    }
)


def target(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def tracked(name: str, image: str, replicas: int) -> dict[str, Any]:
    """A Deployment of the operator's, rolled out: every replica updated and ready."""
    d = copy.deepcopy(target(image))
    d["metadata"]["name"] = name
    d["metadata"]["generation"] = 2
    d["spec"]["replicas"] = replicas
    d["spec"]["template"]["metadata"]["labels"]["app"] = name
    d["status"] = {
        "observedGeneration": 2,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
    }
    return d


def with_ready(deployment: dict[str, Any], ready: int) -> dict[str, Any]:
    """`deployment` with only `ready` of its replicas ready."""
    d = copy.deepcopy(deployment)
    d["status"]["readyReplicas"] = ready
    return d


def rev(image: str) -> str:
    r = revision.of_deployment(target(image))
    assert r is not None
    return r


def analysing(weight: int, failed: int) -> Info:
    return Info(
        current_weight=weight,
        failed_checks=failed,
        primary_revision=rev("web:1"),
        canary_revision=rev("web:2"),
        last_check_time="2020-01-01T00:00:00Z",
    )


def ctx(
    phase: str,
    info: Info | None,
    deployments: list[dict[str, Any]],
    metrics: dict[str, Metric] | None = None,
    spec: Spec = SPEC,
) -> Context[Spec, Info]:
    return Context.for_test(
        spec,
        Info,
        phase=phase,
        name="web",
        namespace="shop",
        status_info=info,
        objects={"deployments": deployments},
        metrics=metrics,
    )


def named(outcome: Outcome, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in outcome.outputs if o["kind"] == kind and o["metadata"]["name"] == name)


def canary_weight(outcome: Outcome) -> int:
    route = next(o for o in outcome.outputs if o["kind"] in ("VirtualService", "HTTPRoute"))
    weight = traffic.canary_weight_of(route)
    assert weight is not None, route
    return weight


def info_of(outcome: Outcome) -> Info:
    assert outcome.status_info is not None
    return Info.model_validate(outcome.status_info)


def test_revision_hash_matches_the_rust_worker() -> None:
    assert revision.fnv1a64(b"") == 0xCBF29CE484222325
    assert revision.fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    canonical = b'{"a":[1,{"c":2,"d":1}],"b":1}'
    assert revision.of_template({"b": 1, "a": [1, {"d": 1, "c": 2}]}) == (
        f"{revision.fnv1a64(canonical):016x}"
    )


def test_initializing_creates_primary_canary_services_and_route() -> None:
    out = phases.initializing(ctx("Initializing", None, [target("web:1")]))
    assert out.next_phase == "Waiting"
    assert named(out, "Deployment", "web-primary")["spec"]["replicas"] == 2
    assert named(out, "Deployment", "web-canary")["spec"]["replicas"] == 0
    for name in ("web", "web-primary", "web-canary"):
        named(out, "Service", name)
    assert canary_weight(out) == 0
    assert info_of(out).primary_revision == rev("web:1")


def test_initializing_waits_for_a_missing_target() -> None:
    out = phases.initializing(ctx("Initializing", None, []))
    assert out.next_phase is None
    assert out.events[0].reason == "TargetNotFound"


def test_waiting_starts_an_analysis_of_a_new_revision_only() -> None:
    settled = Info(primary_revision=rev("web:1"))
    assert phases.waiting(ctx("Waiting", settled, [target("web:1")])).next_phase is None
    out = phases.waiting(ctx("Waiting", settled, [target("web:2")]))
    assert out.next_phase == "Evaluating"
    canary = named(out, "Deployment", "web-canary")
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert canary_weight(out) == 20
    rolled_back = settled.model_copy(update={"canary_revision": rev("web:2")})
    assert phases.waiting(ctx("Waiting", rolled_back, [target("web:2")])).next_phase is None


def evaluating(
    info: Info, rate: Metric, p99: Metric, canary: dict[str, Any] | None = None
) -> Outcome:
    deployments = [
        target("web:2"),
        tracked("web-primary", "web:1", 2),
        canary if canary is not None else tracked("web-canary", "web:2", 2),
    ]
    metrics = {phases.SUCCESS_RATE: rate, phases.LATENCY_P99: p99}
    return phases.evaluate_at(
        ctx("Evaluating", info, deployments, metrics), datetime.now(timezone.utc)
    )


def test_evaluating_steps_then_promotes() -> None:
    out = evaluating(analysing(20, 0), Metric.scalar(1.0, query="q"), Metric.scalar(20.0))
    assert out.next_phase is None
    assert canary_weight(out) == 40
    info = info_of(out)
    assert (info.current_weight, info.iteration) == (40, 1)
    assert info.last_queries[0].query == "q"
    assert out.events[0].reason == "WeightIncreased"
    assert out.requeue == timedelta(seconds=10)
    out = evaluating(analysing(40, 0), Metric.scalar(1.0), Metric.scalar(20.0))
    assert out.next_phase == "Promoting"


def test_evaluating_waits_for_the_interval() -> None:
    info = analysing(20, 0)
    info.last_check_time = phases._timestamp(datetime.now(timezone.utc))
    out = evaluating(info, Metric.scalar(1.0), Metric.scalar(20.0))
    assert len(out.outputs) == 1 and out.events == []
    assert canary_weight(out) == 20, "re-declared as held"
    assert out.requeue is not None and out.requeue <= timedelta(seconds=10)


def test_evaluating_counts_failures_then_rolls_back() -> None:
    out = evaluating(analysing(20, 0), Metric.scalar(0.5), Metric.scalar(20.0))
    assert out.next_phase is None and info_of(out).failed_checks == 1
    out = evaluating(analysing(20, 1), Metric.scalar(1.0), Metric.scalar(900.0))
    assert out.next_phase == "RollingBack"


def test_evaluating_applies_the_no_data_policy() -> None:
    out = evaluating(analysing(20, 0), Metric.no_data_result(), Metric.scalar(float("nan")))
    info = info_of(out)
    assert out.next_phase is None
    assert (info.current_weight, info.failed_checks) == (20, 0)
    assert [q.result for q in info.last_queries] == ["noData", "nan"]
    assert out.events[0].reason == "NoData"


def test_judging_policies() -> None:
    none = analysis.Reading("noData")
    for policy, want in (("fail", "unhealthy"), ("hold", "hold"), ("pass", "healthy")):
        spec = SPEC.model_copy(update={"no_data": policy})
        assert analysis.judge(spec, none, none).kind == want
    bad = analysis.Reading("ok", value=0.5)
    assert analysis.judge(SPEC.model_copy(update={"no_data": "pass"}), bad, none).kind == (
        "unhealthy"
    )


def test_evaluating_restarts_on_a_newer_revision() -> None:
    deployments = [target("web:3"), tracked("web-canary", "web:2", 2)]
    metrics = {phases.SUCCESS_RATE: Metric.scalar(1.0), phases.LATENCY_P99: Metric.scalar(1.0)}
    out = phases.evaluate_at(
        ctx("Evaluating", analysing(40, 1), deployments, metrics), datetime.now(timezone.utc)
    )
    assert out.next_phase is None
    info = info_of(out)
    assert info.canary_revision == rev("web:3")
    assert (info.current_weight, info.failed_checks, info.iteration) == (20, 0, 0)
    assert out.events[0].reason == "AnalysisRestarted"


def test_evaluating_waits_for_the_canary_to_be_ready() -> None:
    # Not every replica ready; the cache still showing the template of the revision before.
    for canary in (
        with_ready(tracked("web-canary", "web:2", 2), 1),
        tracked("web-canary", "web:1", 2),
    ):
        out = evaluating(analysing(20, 0), Metric.scalar(1.0), Metric.scalar(20.0), canary)
        assert out.next_phase is None
        assert len(out.outputs) == 1 and out.events == []
        assert canary_weight(out) == 20, "no step"
        info = info_of(out)
        assert (info.current_weight, info.iteration) == (20, 0)
        assert info.message.startswith("waiting for the canary: web-canary"), info.message
        assert out.requeue == phases.READY_RETRY


def test_rolled_out_means_every_replica_new_and_ready() -> None:
    source = {"spec": {"template": {"spec": {"containers": [{"image": "web:2"}]}}}}

    def d(image: str, **status: int) -> dict[str, Any]:
        done = {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2}
        return {
            "metadata": {"name": "web-primary", "generation": 3},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": image}]}}},
            "status": {**done, **status},
        }

    assert release.rolled_out(d("web:2"), source) is None
    assert release.rolled_out(d("web:2", readyReplicas=1), source) == (
        "web-primary has 1 of 2 replicas ready"
    )
    assert release.rolled_out(d("web:2", replicas=3), source) == (
        "web-primary still has 1 old replicas"
    )
    assert release.rolled_out(d("web:2", observedGeneration=2), source) == (
        "web-primary has not started its rollout yet"
    )
    assert release.rolled_out(d("web:1"), source) == (
        "web-primary does not have the new pod template yet"
    )


def test_promoting_waits_for_the_primary_rollout() -> None:
    deployments = [
        target("web:2"),
        tracked("web-primary", "web:1", 3),
        tracked("web-canary", "web:2", 2),
    ]
    out = phases.promoting(ctx("Promoting", analysing(40, 0), deployments))
    assert out.next_phase is None
    assert len(out.outputs) == 2, "the primary and the route"
    assert canary_weight(out) == 40, "the canary keeps its traffic"
    primary = named(out, "Deployment", "web-primary")
    assert primary["spec"]["replicas"] == 3
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    info = info_of(out)
    assert info.current_weight == 40
    assert info.history == []

    deployments[1] = with_ready(tracked("web-primary", "web:2", 3), 2)
    out = phases.promoting(ctx("Promoting", analysing(40, 0), deployments))
    assert out.next_phase is None
    assert info_of(out).message.endswith("web-primary has 2 of 3 replicas ready")


def test_promoting_copies_the_canary_to_the_primary() -> None:
    deployments = [
        target("web:2"),
        tracked("web-primary", "web:2", 3),
        tracked("web-canary", "web:2", 2),
    ]
    out = phases.promoting(ctx("Promoting", analysing(40, 0), deployments))
    assert out.next_phase == "Waiting"
    primary = named(out, "Deployment", "web-primary")
    assert primary["spec"]["replicas"] == 3
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert primary["spec"]["template"]["metadata"]["labels"]["app"] == "web-primary"
    assert canary_weight(out) == 0
    info = info_of(out)
    assert info.primary_revision == rev("web:2")
    assert info.history[-1].outcome == "promoted"


def test_rolling_back_keeps_the_primary() -> None:
    deployments = [target("web:2"), tracked("web-canary", "web:2", 2)]
    out = phases.rolling_back(ctx("RollingBack", analysing(20, 2), deployments))
    assert out.next_phase == "Waiting"
    assert all(o["metadata"]["name"] != "web-primary" for o in out.outputs)
    assert named(out, "Deployment", "web-canary")["spec"]["replicas"] == 0
    info = info_of(out)
    assert info.history[-1].outcome == "failed"
    assert info.primary_revision == rev("web:1")


def test_history_keeps_the_last_ten() -> None:
    info = Info()
    for i in range(12):
        info.record(Release(revision=str(i)))
    assert [r.revision for r in info.history] == [str(i) for i in range(2, 12)]


def test_gateway_api_routes_when_asked() -> None:
    spec = SPEC.model_copy(update={"traffic": "gatewayapi"})
    out = phases.initializing(ctx("Initializing", None, [target("web:1")], spec=spec))
    assert any(o["kind"] == "HTTPRoute" for o in out.outputs)


def reasons(outcome: Outcome) -> list[str]:
    return [e.reason for e in outcome.events]


SUSPEND = SPEC.model_copy(update={"suspend": True})
SKIP = SPEC.model_copy(update={"skip_analysis": True})


def test_gates() -> None:
    # (spec.suspend, spec.skipAnalysis, info.suspended) -> (kind, changed)
    cases = {
        (False, False, False): ("analyse", False),
        (False, False, True): ("analyse", True),
        (False, True, False): ("skip", False),
        (False, True, True): ("skip", True),
        (True, False, False): ("suspend", True),
        (True, False, True): ("suspend", False),
        # Suspension wins over skipping the analysis.
        (True, True, False): ("suspend", True),
        (True, True, True): ("suspend", False),
    }
    for (suspend, skip, suspended), want in cases.items():
        spec = SPEC.model_copy(update={"suspend": suspend, "skip_analysis": skip})
        got = analysis.gate(spec, Info(suspended=suspended))
        assert (got.kind, got.changed) == want, (suspend, skip, suspended)


def test_spec_reads_the_gates() -> None:
    spec = Spec.model_validate({"targetRef": "web", "suspend": True, "skipAnalysis": True})
    assert (spec.suspend, spec.skip_analysis) == (True, True)
    assert (Spec().suspend, Spec().skip_analysis) == (False, False)


def test_waiting_while_suspended_holds_a_new_revision() -> None:
    settled = Info(primary_revision=rev("web:1"))
    out = phases.waiting(ctx("Waiting", settled, [target("web:2")], spec=SUSPEND))
    assert out.next_phase is None
    assert out.outputs == []
    assert reasons(out) == ["Suspended"]
    assert out.conditions[0].type == "Suspended"
    assert out.conditions[0].status == "True"
    held = info_of(out)
    assert held.suspended
    assert held.canary_revision == "", "the new revision is not started"
    assert held.message.endswith(f"new revision {rev('web:2')} waits"), held.message

    # Still suspended: the Event is not repeated.
    out = phases.waiting(ctx("Waiting", held, [target("web:2")], spec=SUSPEND))
    assert out.next_phase is None
    assert out.events == [] and out.conditions == []

    # Resumed: the waiting revision starts.
    out = phases.waiting(ctx("Waiting", held, [target("web:2")]))
    assert out.next_phase == "Evaluating"
    assert reasons(out) == ["NewRevision", "Resumed"]
    suspended = next(c for c in out.conditions if c.type == "Suspended")
    assert suspended.status == "False"
    info = info_of(out)
    assert not info.suspended
    assert info.canary_revision == rev("web:2")


def test_evaluating_while_suspended_neither_checks_nor_restarts() -> None:
    for newest in ("web:2", "web:3"):
        deployments = [
            target(newest),
            tracked("web-primary", "web:1", 2),
            tracked("web-canary", "web:2", 2),
        ]
        # Metrics that would roll back.
        metrics = {
            phases.SUCCESS_RATE: Metric.scalar(0.1),
            phases.LATENCY_P99: Metric.scalar(900.0),
        }
        out = phases.evaluate_at(
            ctx("Evaluating", analysing(40, 1), deployments, metrics, spec=SUSPEND),
            datetime.now(timezone.utc),
        )
        assert out.next_phase is None, newest
        # Only the route, declared at the held weight.
        assert len(out.outputs) == 1, newest
        assert canary_weight(out) == 40, newest
        assert reasons(out) == ["Suspended"]
        info = info_of(out)
        assert (info.current_weight, info.iteration, info.failed_checks, info.suspended) == (
            40,
            0,
            1,
            True,
        ), newest
        assert info.canary_revision == rev("web:2"), f"{newest}: no restart"
        assert ("newer revision" in info.message) == (newest == "web:3"), info.message
        assert out.requeue == timedelta(seconds=10)

    # Resumed where it was: the next check steps on from 20%.
    info = analysing(20, 0)
    info.suspended = True
    out = evaluating(info, Metric.scalar(1.0), Metric.scalar(20.0))
    assert canary_weight(out) == 40
    assert reasons(out) == ["WeightIncreased", "Resumed"]
    assert not info_of(out).suspended


def test_waiting_with_skip_analysis_promotes_a_new_revision() -> None:
    settled = Info(primary_revision=rev("web:1"))
    out = phases.waiting(ctx("Waiting", settled, [target("web:2")], spec=SKIP))
    assert out.next_phase == "Promoting"
    canary = named(out, "Deployment", "web-canary")
    assert canary["spec"]["replicas"] == 0, "no canary pods"
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert canary_weight(out) == 0
    assert reasons(out) == ["AnalysisSkipped"]
    info = info_of(out)
    assert info.canary_revision == rev("web:2")
    assert (info.current_weight, info.iteration) == (0, 0)

    # Suspension wins over skipping.
    both = SKIP.model_copy(update={"suspend": True})
    assert phases.waiting(ctx("Waiting", settled, [target("web:2")], spec=both)).next_phase is None


def test_evaluating_with_skip_analysis_promotes() -> None:
    now = datetime.now(timezone.utc)
    bad = {phases.SUCCESS_RATE: Metric.scalar(0.1), phases.LATENCY_P99: Metric.scalar(900.0)}
    # Set mid-analysis: the revision under analysis is promoted without a check.
    deployments = [target("web:2"), tracked("web-canary", "web:2", 2)]
    out = phases.evaluate_at(ctx("Evaluating", analysing(20, 1), deployments, bad, SKIP), now)
    assert out.next_phase == "Promoting"
    assert reasons(out) == ["AnalysisSkipped"]
    assert info_of(out).current_weight == 20
    assert len(out.outputs) == 1 and canary_weight(out) == 20

    # A newer revision replaces the one under analysis and is promoted without checks.
    deployments = [target("web:3"), tracked("web-canary", "web:2", 2)]
    out = phases.evaluate_at(ctx("Evaluating", analysing(20, 1), deployments, bad, SKIP), now)
    assert out.next_phase == "Promoting"
    assert reasons(out) == ["AnalysisSkipped"]
    canary = named(out, "Deployment", "web-canary")
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "web:3"
    assert info_of(out).canary_revision == rev("web:3")


def test_promoting_a_skipped_revision_takes_the_target_template() -> None:
    info = Info(primary_revision=rev("web:1"), canary_revision=rev("web:2"))
    # The cache does not show the canary's new template yet.
    stale_canary = tracked("web-canary", "web:1", 0)
    deployments = [target("web:2"), tracked("web-primary", "web:1", 2), stale_canary]
    out = phases.promoting(ctx("Promoting", info, deployments, spec=SKIP))
    assert out.next_phase is None, "the primary rolls out first"
    primary = named(out, "Deployment", "web-primary")
    assert primary["spec"]["replicas"] == 2
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"

    deployments[1] = tracked("web-primary", "web:2", 2)
    out = phases.promoting(ctx("Promoting", info, deployments, spec=SKIP))
    assert out.next_phase == "Waiting"
    promoted = info_of(out)
    assert promoted.primary_revision == rev("web:2")
    assert promoted.message.endswith("promoted without analysis (skipAnalysis)"), promoted.message
    assert reasons(out) == ["Promoted"]


def trace_evaluating(checks: str, info: Info, spans: Trace) -> Outcome:
    """Evaluating judged by `checks`, with healthy metrics and `spans` as the canary's traces."""
    spec = SPEC.model_copy(update={"checks": checks, "max_span_error_ratio": 0.05})
    deployments = [
        target("web:2"),
        tracked("web-primary", "web:1", 2),
        tracked("web-canary", "web:2", 2),
    ]
    context = Context.for_test(
        spec,
        Info,
        phase="Evaluating",
        name="web",
        namespace="shop",
        status_info=info,
        objects={"deployments": deployments},
        metrics={phases.SUCCESS_RATE: Metric.scalar(1.0), phases.LATENCY_P99: Metric.scalar(20.0)},
        traces={phases.CANARY_SPANS: spans},
    )
    return phases.evaluate_at(context, datetime.now(timezone.utc))


def canary_spans(downstream_errors: int) -> Trace:
    return Trace.from_operations(
        [
            SpanStats.of("web-canary", "GET /checkout", spans=100, p50_ms=10, p99_ms=20),
            SpanStats.of("web-canary", "charge-payment", spans=100, errors=downstream_errors),
        ],
        query="service=web-canary lookBack=1m limit=200",
    )


def test_evaluating_on_traces_names_the_failing_operation() -> None:
    out = trace_evaluating("both", analysing(20, 0), canary_spans(0))
    assert out.events[0].reason == "WeightIncreased"
    info = info_of(out)
    assert [q.name for q in info.last_queries] == ["successRate", "latencyP99", "canarySpans"]
    assert info.last_queries[2].query == "service=web-canary lookBack=1m limit=200"
    assert info.failing_operation is None

    out = trace_evaluating("both", analysing(20, 1), canary_spans(25))
    assert out.next_phase == "RollingBack"
    assert out.events[0].reason == "AnalysisFailed"
    assert 'operation "charge-payment"' in out.events[0].message
    assert info_of(out).failing_operation == "charge-payment"

    out = trace_evaluating("metrics", analysing(20, 1), canary_spans(25))
    assert out.events[0].reason == "WeightIncreased"
    assert len(info_of(out).last_queries) == 2


def test_evaluating_on_traces_without_jaeger_applies_the_no_data_policy() -> None:
    down = Trace.failed("querying Jaeger at http://127.0.0.1:1: connection refused")
    out = trace_evaluating("traces", analysing(20, 0), down)
    info = info_of(out)
    assert out.next_phase is None and out.events[0].reason == "NoData"
    assert (info.current_weight, info.failed_checks) == (20, 0)
    assert info.last_queries[0].result == "error"
    assert "spans: unavailable (querying Jaeger" in info.message


def test_rolling_back_names_the_failing_operation() -> None:
    info = analysing(40, 2).model_copy(update={"failing_operation": "charge-payment"})
    deployments = [
        target("web:2"),
        tracked("web-primary", "web:1", 2),
        tracked("web-canary", "web:2", 2),
    ]
    out = phases.rolling_back(ctx("RollingBack", info, deployments))
    assert 'failing operation "charge-payment"' in out.events[0].message
