"""The gRPC edge: turns `autopilot.worker.v1` requests into contexts, outcomes into responses,
and `WorkerError`s into status codes. Handlers never see protobuf types."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Generic, NoReturn, TypeVar

import grpc

from autopilot_sdk.condition import refusal
from autopilot_sdk.context import Context, Info, InputUnavailable, Spec
from autopilot_sdk.errors import WorkerError
from autopilot_sdk.external import ExternalEvent
from autopilot_sdk.metric import Metric, MetricKind, Sample, Series
from autopilot_sdk.outcome import Event, Finalized, Outcome, Severity
from autopilot_sdk.proto import worker_pb2 as pb
from autopilot_sdk.trace import ErrorSpan, SpanStats, Trace, TraceSample
from autopilot_sdk.worker import PROTOCOL_VERSION, Worker

SERVICE_NAME = "autopilot.worker.v1.WorkerService"
"""The fully qualified gRPC service name."""
RETRY_AFTER_TRAILER = "autopilot-retry-after-ms"
"""The trailer by which a retryable failure asks for a minimum delay, in milliseconds."""

log = logging.getLogger("autopilot_sdk")

Request = TypeVar("Request")
Response = TypeVar("Response")

_KINDS = {
    pb.MetricResult.RESULT_TYPE_SCALAR: MetricKind.SCALAR,
    pb.MetricResult.RESULT_TYPE_VECTOR: MetricKind.VECTOR,
    pb.MetricResult.RESULT_TYPE_MATRIX: MetricKind.MATRIX,
}
_SEVERITIES = {
    Severity.NORMAL: pb.Event.SEVERITY_NORMAL,
    Severity.WARNING: pb.Event.SEVERITY_WARNING,
}


class WorkerService(Generic[Spec, Info]):
    """The WorkerService implementation for one `Worker`."""

    def __init__(self, worker: Worker[Spec, Info]) -> None:
        self.worker = worker

    def generic_handler(self) -> grpc.GenericRpcHandler:
        """The handler to add to a grpc.Server."""

        def unary(
            method: Callable[[Request, grpc.ServicerContext], Response],
            request_type: Callable[[bytes], Request],
        ) -> grpc.RpcMethodHandler[Request, Response]:
            return grpc.unary_unary_rpc_method_handler(
                method,
                request_deserializer=request_type,
                response_serializer=lambda m: m.SerializeToString(),
            )

        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Describe": unary(self.describe, pb.DescribeRequest.FromString),
                "Sync": unary(self.sync, pb.SyncRequest.FromString),
                "Finalize": unary(self.finalize, pb.FinalizeRequest.FromString),
            },
        )

    def describe(
        self, request: pb.DescribeRequest, context: grpc.ServicerContext
    ) -> pb.DescribeResponse:
        if request.protocol_version and request.protocol_version != PROTOCOL_VERSION:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"the scheduler speaks protocol {request.protocol_version!r}; "
                f"this worker speaks {PROTOCOL_VERSION!r}",
            )
        d = self.worker.describe()
        return pb.DescribeResponse(
            protocol_version=d.protocol_version,
            worker_name=d.name,
            worker_version=d.version,
            phases=list(d.phases),
            finalize=d.finalize,
            capabilities=list(d.capabilities),
        )

    def sync(self, request: pb.SyncRequest, context: grpc.ServicerContext) -> pb.SyncResponse:
        handler = self.worker.handler(request.phase)
        if handler is None:
            context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                f"worker {self.worker.name!r} does not serve phase {request.phase!r}",
            )
        try:
            ctx = Context.from_resource(
                _parse_resource(request.resource),
                self.worker.spec_type,
                self.worker.info_type,
                phase=request.phase,
                objects={key: _objects(key, lst) for key, lst in request.objects.items()},
                metrics={key: _metric(m) for key, m in request.metrics.items()},
                traces={key: _trace(t) for key, t in request.traces.items()},
                events={key: _external_events(lst) for key, lst in request.events.items()},
                **_facts(request.meta, context),
            )
            outcome = handler(ctx)
            return _sync_response(outcome)
        except WorkerError as err:
            _abort(context, err, request.phase)
        except Exception as err:
            log.exception("phase %s failed unexpectedly", request.phase)
            context.abort(grpc.StatusCode.INTERNAL, f"phase {request.phase}: {err!r}")

    def finalize(
        self, request: pb.FinalizeRequest, context: grpc.ServicerContext
    ) -> pb.FinalizeResponse:
        handler = self.worker.finalize_handler
        if handler is None:
            return pb.FinalizeResponse(done=True)
        try:
            ctx = Context.from_resource(
                _parse_resource(request.resource),
                self.worker.spec_type,
                self.worker.info_type,
                **_facts(request.meta, context),
            )
            finalized = handler(ctx)
            return _finalize_response(finalized)
        except WorkerError as err:
            _abort(context, err, "finalize")
        except Exception as err:
            log.exception("finalize failed unexpectedly")
            context.abort(grpc.StatusCode.INTERNAL, f"finalize: {err!r}")


def _abort(context: grpc.ServicerContext, err: WorkerError, what: str) -> NoReturn:
    log.info("%s failed: %r", what, err)
    if err.is_retryable and err.retry_after is not None:
        millis = max(0, round(err.retry_after.total_seconds() * 1000))
        context.set_trailing_metadata(((RETRY_AFTER_TRAILER, str(millis)),))
    context.abort(err.code, err.message)


def _parse_resource(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError as err:
        raise WorkerError.invalid(f"the resource is not JSON: {err}") from err
    if not isinstance(value, dict):
        raise WorkerError.invalid("the resource is not a JSON object")
    return value


def _objects(key: str, objects: pb.ObjectList) -> list[dict[str, Any]] | InputUnavailable:
    if objects.error:
        return InputUnavailable(objects.error)
    try:
        return [json.loads(item) for item in objects.items]
    except ValueError as err:
        raise WorkerError.invalid(f"an object of input {key!r} is not JSON: {err}") from err


def _external_events(events: pb.EventList) -> list[ExternalEvent] | InputUnavailable:
    if events.error:
        return InputUnavailable(events.error)
    return [_external_event(e) for e in events.items]


def _external_event(e: pb.ExternalEvent) -> ExternalEvent:
    def at(ms: int) -> datetime | None:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc) if ms > 0 else None

    return ExternalEvent(
        id=e.id,
        source=e.source,
        type=e.type,
        subject=e.subject,
        time=at(e.time_unix_ms),
        data_content_type=e.data_content_type,
        data=e.data,
        extensions=dict(e.extensions),
        accepted=at(e.accepted_unix_ms),
    )


def _metric(result: pb.MetricResult) -> Metric:
    series = tuple(
        Series(
            dict(s.labels),
            tuple(Sample(x.timestamp_ms, math.nan if x.is_nan else x.value) for x in s.samples),
        )
        for s in result.series
    )
    return Metric(
        kind=_KINDS.get(result.type, MetricKind.VECTOR),
        series=series,
        no_data=result.no_data,
        query=result.query,
        error=result.error or None,
    )


def _stats(s: pb.SpanStats) -> SpanStats:
    return SpanStats(
        s.service,
        s.operation,
        s.span_count,
        s.error_count,
        s.error_ratio,
        s.p50_ms,
        s.p90_ms,
        s.p99_ms,
    )


def _trace(result: pb.TraceResult) -> Trace:
    return Trace(
        query=result.query,
        no_data=result.no_data,
        error=result.error or None,
        total=_stats(result.total),
        operations=tuple(_stats(o) for o in result.operations),
        samples=tuple(
            TraceSample(
                s.trace_id,
                s.root_service,
                s.root_operation,
                s.duration_ms,
                s.start_unix_ms,
                tuple(ErrorSpan(e.service, e.operation, e.status_message) for e in s.error_spans),
            )
            for s in result.samples
        ),
    )


def _facts(meta: pb.RequestMeta, context: grpc.ServicerContext) -> dict[str, Any]:
    metadata: Mapping[str, str | bytes] = dict(context.invocation_metadata())
    traceparent = metadata.get("traceparent")
    deadline = (
        datetime.fromtimestamp(meta.deadline_unix_ms / 1000, tz=timezone.utc)
        if meta.deadline_unix_ms
        else None
    )
    return {
        "attempt": meta.attempt or 1,
        "tag": meta.tag,
        "deadline": deadline,
        "generation": meta.generation or None,
        "operator_name": meta.operator_name,
        "traceparent": traceparent if isinstance(traceparent, str) else None,
    }


def _millis(delay: Any) -> int:
    return 0 if delay is None else max(0, round(delay.total_seconds() * 1000))


def _events(events: list[Event]) -> list[pb.Event]:
    return [
        pb.Event(severity=_SEVERITIES[e.severity], reason=e.reason, message=e.message)
        for e in events
    ]


def _sync_response(outcome: Outcome) -> pb.SyncResponse:
    # Conditions appended to the list directly skip `Outcome.condition`'s check.
    for c in outcome.conditions:
        why = refusal(c.type)
        if why is not None:
            raise WorkerError.invalid(why)
    return pb.SyncResponse(
        next_phase=outcome.next_phase or "",
        outputs=[json.dumps(o, separators=(",", ":")).encode() for o in outcome.outputs],
        status_info=(
            json.dumps(outcome.status_info, separators=(",", ":")).encode()
            if outcome.status_info is not None
            else b""
        ),
        conditions=[
            pb.Condition(type=c.type, status=c.status, reason=c.reason, message=c.message)
            for c in outcome.conditions
        ],
        events=_events(outcome.events),
        requeue_after_ms=_millis(outcome.requeue),
    )


def _finalize_response(finalized: Finalized) -> pb.FinalizeResponse:
    return pb.FinalizeResponse(
        done=finalized.done,
        events=_events(finalized.events),
        requeue_after_ms=_millis(finalized.requeue),
    )
