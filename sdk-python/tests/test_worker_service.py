"""The worker over real gRPC: Describe, Sync, Finalize, error codes, the trailer, health."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2

from autopilot_sdk import Condition, Context, Finalized, Outcome, Worker, WorkerError
from autopilot_sdk.proto import worker_pb2 as pb
from autopilot_sdk.serve import Running
from tests.conftest import Info, Spec

Response = TypeVar("Response")
Serve = Callable[..., Running]


def call(
    channel: grpc.Channel,
    method: str,
    request: Any,
    response_type: Callable[[bytes], Response],
    metadata: tuple[tuple[str, str], ...] = (),
) -> Response:
    path = method if method.startswith("/") else f"/autopilot.worker.v1.WorkerService/{method}"
    stub: grpc.UnaryUnaryMultiCallable[Any, Response] = channel.unary_unary(
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_type,
    )
    result: Response = stub(request, metadata=metadata, timeout=10)
    return result


def resource(spec: dict[str, Any], info: dict[str, Any] | None = None) -> bytes:
    obj: dict[str, Any] = {
        "apiVersion": "conformance.autopilot.dev/v1",
        "kind": "Probe",
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "generation": 3},
        "spec": spec,
    }
    if info is not None:
        obj["status"] = {"statusInfo": info}
    return json.dumps(obj).encode()


seen: list[Context[Spec, Info]] = []


def checking(ctx: Context[Spec, Info]) -> Outcome:
    seen.append(ctx)
    if ctx.spec.target == "permanent":
        raise WorkerError.permanent("permanent failure requested")
    if ctx.attempt <= (ctx.spec.fail_first or 0):
        raise WorkerError.retryable(f"transient {ctx.attempt}").with_retry_after(
            timedelta(milliseconds=1500)
        )
    if ctx.spec.target == "crash":
        raise KeyError("boom")
    if ctx.spec.target == "own-condition":
        # Around `Outcome.condition`: the service still refuses it before answering.
        outcome = Outcome.stay()
        outcome.conditions.append(Condition.of("MetricsAvailable", True, "Measured"))
        return outcome
    checks = ((ctx.status_info.checks if ctx.status_info else None) or 0) + 1
    return (
        Outcome.next("Done")
        .output({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p-probe"}})
        .status(Info(checks=checks))
        .condition("Checked", True, "Ok", "fine")
        .event_warning("Checked", f"one={ctx.metric('one').value()}")
        .requeue_after(timedelta(milliseconds=300))
    )


def finalize(ctx: Context[Spec, Info]) -> Finalized:
    return Finalized.not_yet().requeue_after(timedelta(milliseconds=200))


def worker() -> Worker[Spec, Info]:
    return (
        Worker("test-worker", Spec, Info, version="1.2.3")
        .phase("Checking", checking)
        .finalize(finalize)
    )


@pytest.fixture
def channel(serve_worker: Serve) -> grpc.Channel:
    running = serve_worker(worker())
    return grpc.insecure_channel(f"127.0.0.1:{running.port}")


def test_describe_answers_from_the_registry(channel: grpc.Channel) -> None:
    d = call(
        channel,
        "Describe",
        pb.DescribeRequest(protocol_version="v1"),
        pb.DescribeResponse.FromString,
    )
    assert (d.protocol_version, d.worker_name, d.worker_version) == ("v1", "test-worker", "1.2.3")
    assert list(d.phases) == ["Checking"]
    assert d.finalize
    assert list(d.capabilities) == ["traceparent"]


def test_describe_refuses_another_protocol(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as err:
        call(
            channel,
            "Describe",
            pb.DescribeRequest(protocol_version="v9"),
            pb.DescribeResponse.FromString,
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def sync_request(spec: dict[str, Any], attempt: int = 1) -> pb.SyncRequest:
    return pb.SyncRequest(
        phase="Checking",
        resource=resource(spec, {"checks": 1}),
        objects={"configmaps": pb.ObjectList(items=[b'{"metadata": {"name": "a"}}'])},
        metrics={
            "one": pb.MetricResult(
                query="vector(3)",
                type=pb.MetricResult.RESULT_TYPE_VECTOR,
                series=[pb.Series(samples=[pb.Sample(timestamp_ms=1, value=3.0)])],
            ),
            "nan": pb.MetricResult(
                type=pb.MetricResult.RESULT_TYPE_SCALAR,
                series=[pb.Series(samples=[pb.Sample(value=math.nan, is_nan=True)])],
            ),
            "missing": pb.MetricResult(query="absent", no_data=True),
        },
        traces={
            "spans": pb.TraceResult(
                query="service=web lookBack=1m limit=10",
                total=pb.SpanStats(span_count=20, error_count=5, error_ratio=0.25, p99_ms=12),
                operations=[
                    pb.SpanStats(service="web", operation="GET /", span_count=10),
                    pb.SpanStats(
                        service="web",
                        operation="charge",
                        span_count=10,
                        error_count=5,
                        error_ratio=0.5,
                    ),
                ],
                samples=[
                    pb.TraceSample(
                        trace_id="ab",
                        root_service="web",
                        root_operation="GET /",
                        duration_ms=12.5,
                        start_unix_ms=7,
                        error_spans=[
                            pb.ErrorSpan(service="web", operation="charge", status_message="no")
                        ],
                    )
                ],
            ),
            "down": pb.TraceResult(query="service=web", error="Jaeger unreachable"),
            "none": pb.TraceResult(no_data=True),
        },
        meta=pb.RequestMeta(
            attempt=attempt, tag="t", deadline_unix_ms=1_700_000_000_000, generation=3
        ),
    )


def test_sync_builds_the_context_and_answers_the_outcome(channel: grpc.Channel) -> None:
    seen.clear()
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    r = call(
        channel,
        "Sync",
        sync_request({"target": "web", "failFirst": 0}),
        pb.SyncResponse.FromString,
        metadata=(("traceparent", traceparent),),
    )
    assert r.next_phase == "Done"
    assert [json.loads(o)["metadata"]["name"] for o in r.outputs] == ["p-probe"]
    assert json.loads(r.status_info) == {"checks": 2}
    assert [(c.type, c.status, c.reason) for c in r.conditions] == [("Checked", "True", "Ok")]
    assert [(e.severity, e.reason, e.message) for e in r.events] == [
        (pb.Event.SEVERITY_WARNING, "Checked", "one=3.0")
    ]
    assert r.requeue_after_ms == 300

    ctx = seen[-1]
    assert (ctx.phase, ctx.name, ctx.namespace, ctx.uid, ctx.generation) == (
        "Checking",
        "p",
        "ns",
        "u-1",
        3,
    )
    assert (ctx.attempt, ctx.tag, ctx.traceparent) == (1, "t", traceparent)
    assert ctx.deadline is not None and ctx.deadline.timestamp() == 1_700_000_000
    assert ctx.spec == Spec(target="web", fail_first=0)
    assert ctx.objects("configmaps") == [{"metadata": {"name": "a"}}]
    assert ctx.metric("one").query == "vector(3)"
    assert ctx.metric("missing").value() is None
    assert ctx.metric("nan").is_nan()
    spans = ctx.trace("spans")
    stats = spans.stats()
    assert stats is not None and (stats.span_count, stats.error_ratio) == (20, 0.25)
    worst = spans.worst_operation()
    assert worst is not None and worst.operation == "charge"
    assert spans.samples[0].error_spans[0].status_message == "no"
    assert spans.samples[0].duration_ms == 12.5
    with pytest.raises(WorkerError):
        ctx.trace("down").stats()
    assert ctx.trace("none").stats() is None


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"target": "permanent"}, grpc.StatusCode.FAILED_PRECONDITION),
        ({"target": "crash"}, grpc.StatusCode.INTERNAL),
        ({"failFirst": "not a number"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"target": "own-condition"}, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_errors_become_status_codes(
    channel: grpc.Channel, spec: dict[str, Any], code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        call(channel, "Sync", sync_request(spec), pb.SyncResponse.FromString)
    assert err.value.code() == code


def test_retryable_errors_carry_the_retry_after_trailer(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as err:
        call(channel, "Sync", sync_request({"failFirst": 2}, attempt=2), pb.SyncResponse.FromString)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert err.value.details() == "transient 2"
    trailers: dict[str, object] = {m.key: m.value for m in err.value.trailing_metadata()}
    assert trailers["autopilot-retry-after-ms"] == "1500"


def test_a_phase_not_served_is_unimplemented(channel: grpc.Channel) -> None:
    request = pb.SyncRequest(phase="Elsewhere", resource=resource({}))
    with pytest.raises(grpc.RpcError) as err:
        call(channel, "Sync", request, pb.SyncResponse.FromString)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_finalize(channel: grpc.Channel) -> None:
    r = call(
        channel,
        "Finalize",
        pb.FinalizeRequest(resource=resource({}), meta=pb.RequestMeta(attempt=1)),
        pb.FinalizeResponse.FromString,
    )
    assert (r.done, r.requeue_after_ms) == (False, 200)


def test_health_reports_serving(channel: grpc.Channel) -> None:
    for service in ("", "autopilot.worker.v1.WorkerService"):
        request = health_pb2.HealthCheckRequest(service=service)
        answer = call(
            channel,
            "/grpc.health.v1.Health/Check",
            request,
            health_pb2.HealthCheckResponse.FromString,
        )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_serves_on_a_unix_socket(serve_worker: Serve, tmp_path: Path) -> None:
    socket = tmp_path / "worker.sock"
    serve_worker(worker(), f"unix:{socket}")
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        d = call(
            channel,
            "Describe",
            pb.DescribeRequest(protocol_version="v1"),
            pb.DescribeResponse.FromString,
        )
    assert d.worker_name == "test-worker"
