"""The traffic checks, splits and objects, and every strategy through a release: the same
tables as the Rust worker's tests (src/traffic/tests.rs, src/phases/tests.rs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from autopilot_sdk import Metric, Outcome, WorkerError

from canary_worker import phases, traffic
from canary_worker.model import Info, Match, Mirror, Spec
from canary_worker.traffic import PRIMARY, Split
from tests.test_phases import SPEC, ctx, rev, target, tracked

SHAPES = Path(__file__).resolve().parents[2] / "testdata" / "traffic.json"


def spec_of(fields: dict[str, Any]) -> Spec:
    return Spec.model_validate({"targetRef": "web", "port": 8080, **fields})


def parse_split(text: str) -> Split:
    """`weighted:30`, `mirrored:50`, `matched` or `switched`, as traffic.json writes a split."""
    kind, _, value = text.partition(":")
    return Split(kind, int(value) if value else 0)


def test_objects_match_the_shared_shapes() -> None:
    cases = json.loads(SHAPES.read_text())["cases"]
    assert len(cases) >= 10
    for case in cases:
        got = traffic.object_for(spec_of(case["spec"]), parse_split(case["split"]))
        assert got == case["object"], case["name"]


KUBE = "spec.traffic kubernetes cannot split traffic (a Service selects one track): "


@pytest.mark.parametrize(
    ("fields", "want"),
    [
        ({}, None),
        ({"strategy": "blueGreen", "traffic": "kubernetes"}, None),
        ({"traffic": "kubernetes"}, KUBE + "it serves spec.strategy blueGreen only, not canary"),
        (
            {
                "strategy": "abTesting",
                "traffic": "kubernetes",
                "match": [{"header": "x", "exact": "1"}],
            },
            KUBE + "it serves spec.strategy blueGreen only, not abTesting",
        ),
        (
            {"strategy": "blueGreen", "traffic": "kubernetes", "mirror": {}},
            "spec.mirror needs a route: set spec.traffic to istio or gatewayapi",
        ),
        ({"strategy": "blueGreen", "mirror": {"percentage": 10}}, None),
        (
            {"traffic": "linkerd", "mirror": {}},
            "spec.mirror: Linkerd's HTTPRoute has no RequestMirror filter; "
            "set spec.traffic to istio or gatewayapi to mirror",
        ),
        ({"traffic": "linkerd", "strategy": "blueGreen"}, None),
        ({"strategy": "abTesting"}, "spec.match: strategy abTesting needs at least one entry"),
        (
            {
                "strategy": "abTesting",
                "match": [{"header": "x-canary", "exact": "1"}, {"exact": "1"}],
            },
            "spec.match[1]: name a header or a cookie (one of them, not empty)",
        ),
        (
            {"strategy": "abTesting", "match": [{"header": "x", "cookie": "c", "exact": "1"}]},
            "spec.match[0]: name a header or a cookie (one of them, not empty)",
        ),
        (
            {"strategy": "abTesting", "match": [{"cookie": "", "exact": "1"}]},
            "spec.match[0]: name a header or a cookie (one of them, not empty)",
        ),
        (
            {"strategy": "abTesting", "match": [{"cookie": "canary", "exact": "1", "regex": "1"}]},
            "spec.match[0]: give exact or regex (one of them)",
        ),
        (
            {"strategy": "abTesting", "match": [{"header": "x-user"}]},
            "spec.match[0]: give exact or regex (one of them)",
        ),
    ],
)
def test_checks_name_what_does_not_fit(fields: dict[str, Any], want: str | None) -> None:
    assert traffic.check(spec_of(fields)) == want


MIRROR = Mirror(percentage=50, iterations=2)


def info(iteration: int, passed_checks: int, current_weight: int) -> Info:
    return Info(iteration=iteration, passed_checks=passed_checks, current_weight=current_weight)


@pytest.mark.parametrize(
    ("strategy", "mirror", "state", "analysing", "promoting"),
    [
        ("canary", None, info(0, 0, 20), Split("weighted", 20), Split("weighted", 20)),
        ("canary", None, info(0, 0, 0), PRIMARY, PRIMARY),
        ("canary", None, info(3, 3, 60), Split("weighted", 60), Split("weighted", 60)),
        ("canary", MIRROR, info(1, 1, 0), Split("mirrored", 50), PRIMARY),
        ("canary", MIRROR, info(3, 2, 20), Split("weighted", 20), Split("weighted", 20)),
        ("abTesting", None, info(0, 0, 0), Split("matched"), PRIMARY),
        ("abTesting", None, info(2, 2, 0), Split("matched"), Split("matched")),
        ("abTesting", MIRROR, info(1, 0, 0), Split("mirrored", 50), PRIMARY),
        ("abTesting", MIRROR, info(2, 2, 0), Split("matched"), Split("matched")),
        ("blueGreen", None, info(0, 0, 0), PRIMARY, PRIMARY),
        ("blueGreen", None, info(5, 5, 0), PRIMARY, Split("switched")),
        ("blueGreen", MIRROR, info(1, 1, 0), Split("mirrored", 50), PRIMARY),
    ],
)
def test_splits_by_strategy_and_stage(
    strategy: Any, mirror: Mirror | None, state: Info, analysing: Split, promoting: Split
) -> None:
    spec = Spec(strategy=strategy, mirror=mirror)
    assert (traffic.analysing(spec, state), traffic.promoting(spec, state)) == (
        analysing,
        promoting,
    )


def test_cookie_values_are_escaped() -> None:
    m = Match(cookie="canary.v2", exact="a+b")
    assert traffic.header_match(m) == ("cookie", "regex", r"^(.*?;\s*)?canary\.v2=a\+b(;.*)?$")
    assert traffic.escape(r"\.+*?()|[]{}^$ok") == r"\\\.\+\*\?\(\)\|\[\]\{\}\^\$ok"


def shape(outcome: Outcome) -> str:
    """How the traffic object among the outputs routes: w20, mirror50, matched, svc:<app>."""
    obj = next(
        o
        for o in outcome.outputs
        if o["kind"] in ("VirtualService", "HTTPRoute")
        or (o["kind"] == "Service" and o["metadata"]["name"] == "web")
    )
    if obj["kind"] == "Service":
        return f"svc:{obj['spec']['selector']['app']}"
    rules = obj["spec"].get("http") or obj["spec"]["rules"]
    if len(rules) == 2:
        return "matched"
    percent = (rules[0].get("mirrorPercentage") or {}).get("value")
    if percent is None and rules[0].get("filters"):
        percent = rules[0]["filters"][0]["requestMirror"]["percent"]
    if percent is not None:
        return f"mirror{percent}"
    return f"w{traffic.canary_weight_of(obj)}"


def walk(spec: Spec) -> list[str]:
    """A whole release of web:2 under `spec` with healthy metrics: the Event reason and
    traffic shape of each handling from Waiting through Promoting."""

    def step(out: Outcome) -> str:
        return f"{out.events[0].reason if out.events else '-'} {shape(out)}"

    def deployments(primary_image: str) -> list[dict[str, Any]]:
        return [
            target("web:2"),
            tracked("web-primary", primary_image, 2),
            tracked("web-canary", "web:2", 2),
        ]

    settled = Info(primary_revision=rev("web:1"))
    out = phases.waiting(ctx("Waiting", settled, [target("web:2")], spec=spec))
    assert out.next_phase == "Evaluating"
    steps = [step(out)]
    state = Info.model_validate(out.status_info)
    healthy = {phases.SUCCESS_RATE: Metric.scalar(1.0), phases.LATENCY_P99: Metric.scalar(20.0)}
    for _ in range(20):
        state.last_check_time = "2020-01-01T00:00:00Z"
        c = ctx("Evaluating", state, deployments("web:1"), healthy, spec)
        out = phases.evaluating(c)
        steps.append(step(out))
        state = Info.model_validate(out.status_info)
        if out.next_phase == "Promoting":
            break
    out = phases.promoting(ctx("Promoting", state, deployments("web:1"), spec=spec))
    steps.append(f"rollout {shape(out)}")
    state = Info.model_validate(out.status_info)
    out = phases.promoting(ctx("Promoting", state, deployments("web:2"), spec=spec))
    steps.append(step(out))
    kinds = [(o["kind"], o["metadata"]["name"]) for o in out.outputs]
    carrier = next(i for i, k in enumerate(kinds) if k[1] == "web")
    assert carrier < kinds.index(("Deployment", "web-canary")), "traffic before scale-down"
    return steps


AB = [{"header": "x-canary", "exact": "insider"}]
MIRRORED = {"percentage": 50, "iterations": 2}
CANARY_WITH_MIRROR = [
    "NewRevision mirror50",
    "CheckPassed mirror50",
    "WeightIncreased w20",
    "WeightIncreased w40",
    "AnalysisSucceeded w40",
    "rollout w40",
    "Promoted w0",
]


@pytest.mark.parametrize(
    ("fields", "want"),
    [
        (
            {},
            [
                "NewRevision w20",
                "WeightIncreased w40",
                "AnalysisSucceeded w40",
                "rollout w40",
                "Promoted w0",
            ],
        ),
        ({"mirror": MIRRORED}, CANARY_WITH_MIRROR),
        ({"traffic": "gatewayapi", "mirror": MIRRORED}, CANARY_WITH_MIRROR),
        (
            {"strategy": "abTesting", "iterations": 2, "match": AB},
            [
                "NewRevision matched",
                "CheckPassed matched",
                "AnalysisSucceeded matched",
                "rollout matched",
                "Promoted w0",
            ],
        ),
        (
            {
                "strategy": "abTesting",
                "iterations": 1,
                "match": AB,
                "traffic": "gatewayapi",
                "mirror": {"percentage": 100},
            },
            [
                "NewRevision mirror100",
                "MirrorEnded matched",
                "AnalysisSucceeded matched",
                "rollout matched",
                "Promoted w0",
            ],
        ),
        (
            {"strategy": "blueGreen", "iterations": 2, "traffic": "kubernetes"},
            [
                "NewRevision svc:web-primary",
                "CheckPassed svc:web-primary",
                "AnalysisSucceeded svc:web-primary",
                "rollout svc:web-canary",
                "Promoted svc:web-primary",
            ],
        ),
        (
            {"strategy": "blueGreen", "iterations": 1, "mirror": {"percentage": 20}},
            [
                "NewRevision mirror20",
                "MirrorEnded w0",
                "AnalysisSucceeded w0",
                "rollout w100",
                "Promoted w0",
            ],
        ),
    ],
)
def test_every_strategy_through_a_release(fields: dict[str, Any], want: list[str]) -> None:
    spec = Spec.model_validate({**SPEC.model_dump(by_alias=True), **fields})
    assert walk(spec) == want


def test_blue_green_without_a_mesh_declares_the_apex_service_once() -> None:
    spec = SPEC.model_copy(update={"strategy": "blueGreen", "traffic": "kubernetes"})
    out = phases.initializing(ctx("Initializing", None, [target("web:1")], spec=spec))
    services = [o["metadata"]["name"] for o in out.outputs if o["kind"] == "Service"]
    assert services == ["web-primary", "web-canary", "web"]
    assert shape(out) == "svc:web-primary"
    assert not any(o["kind"] in ("VirtualService", "HTTPRoute") for o in out.outputs)


def test_a_spec_that_cannot_be_carried_out_is_refused_naming_the_field() -> None:
    spec = SPEC.model_copy(update={"strategy": "abTesting"})
    with pytest.raises(WorkerError) as err:
        phases.initializing(ctx("Initializing", None, [target("web:1")], spec=spec))
    assert "spec.match: strategy abTesting needs at least one entry" in str(err.value)
    assert not err.value.is_retryable


def test_linkerd_is_judged_on_linkerds_metrics() -> None:
    spec = SPEC.model_copy(update={"traffic": "linkerd"})
    deployments = [
        target("web:2"),
        tracked("web-primary", "web:1", 2),
        tracked("web-canary", "web:2", 2),
    ]

    def check(rate: float) -> Outcome:
        metrics = {
            phases.LINKERD_SUCCESS_RATE: Metric.scalar(
                rate, query="sum(rate(response_total{...}))"
            ),
            phases.LINKERD_LATENCY_P99: Metric.scalar(20.0),
            # Istio's series say the opposite: they must not be read.
            phases.SUCCESS_RATE: Metric.scalar(1.5 - rate),
            phases.LATENCY_P99: Metric.scalar(20.0),
        }
        state = Info(
            current_weight=20,
            primary_revision=rev("web:1"),
            canary_revision=rev("web:2"),
            last_check_time="2020-01-01T00:00:00Z",
        )
        return phases.evaluating(ctx("Evaluating", state, deployments, metrics, spec))

    healthy = check(1.0)
    assert [e.reason for e in healthy.events] == ["WeightIncreased"]
    assert any(o["kind"] == "HTTPRoute" for o in healthy.outputs)
    state = Info.model_validate(healthy.status_info)
    assert state.last_queries[0].query == "sum(rate(response_total{...}))"
    assert [e.reason for e in check(0.5).events] == ["CheckFailed"]
