"""The conformance handlers called as plain functions: no gRPC, no cluster."""

import pytest
from autopilot_sdk import Context, Metric, Sample, Series, WorkerError

from probe_worker import finalize
from probe_worker.model import Spec, StatusInfo
from probe_worker.phases import checking, preparing


def metrics(one: float = 3) -> dict[str, Metric]:
    return {
        "one": Metric.vector([Series({}, (Sample(0, one),))], query="vector(3)"),
        "missing": Metric.no_data_result(query="absent_conformance_metric_total"),
    }


def test_preparing_counts_and_creates_the_config_map() -> None:
    ctx: Context[Spec, StatusInfo] = Context.for_test(
        Spec(target="web", factor=3),
        StatusInfo,
        name="p",
        objects={"configmaps": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]},
    )
    outcome = preparing.handle(ctx)
    assert outcome.next_phase == "Checking"
    assert outcome.status_info == {"seen": 2}
    assert outcome.outputs == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "p-probe", "labels": {"probe": "p"}},
            "data": {"target": "web"},
        }
    ]
    assert [(c.type, c.status, c.reason, c.message) for c in outcome.conditions] == [
        ("Prepared", "True", "Created", "prepared p")
    ]


def test_checking_stays_once_then_finishes() -> None:
    spec = Spec(target="web", factor=3)
    ctx: Context[Spec, StatusInfo] = Context.for_test(
        spec, StatusInfo, name="p", status_info=StatusInfo(seen=1), metrics=metrics()
    )
    first = checking.handle(ctx)
    assert first.next_phase is None
    assert first.status_info == {"seen": 1, "checks": 1, "lastQuery": "vector(3)"}
    assert first.requeue is not None and first.requeue.total_seconds() == 0.3
    ctx = Context.for_test(
        spec, StatusInfo, name="p", status_info=StatusInfo(seen=1, checks=1), metrics=metrics()
    )
    second = checking.handle(ctx)
    assert second.next_phase == "Done"
    assert [e.message for e in second.events] == ["one=3 missing=no-data"]


@pytest.mark.parametrize(
    ("spec", "attempt", "one", "code"),
    [
        (Spec(factor=3, permanent=True), 5, 3.0, "FAILED_PRECONDITION"),
        (Spec(factor=3, fail_first=2), 2, 3.0, "UNAVAILABLE"),
        (Spec(factor=3), 1, 4.0, "INVALID_ARGUMENT"),
    ],
)
def test_checking_fails_as_asked(spec: Spec, attempt: int, one: float, code: str) -> None:
    ctx: Context[Spec, StatusInfo] = Context.for_test(
        spec, StatusInfo, attempt=attempt, metrics=metrics(one)
    )
    with pytest.raises(WorkerError) as err:
        checking.handle(ctx)
    assert err.value.code.name == code


def test_finalize_is_done_on_the_second_call() -> None:
    ctx: Context[Spec, StatusInfo] = Context.for_test(Spec(), StatusInfo, name="fin")
    assert not finalize.handle(ctx).done
    assert finalize.handle(ctx).done
