"""`Trace`: the typed result of one trace query (a Jaeger search): span statistics per
operation and sample traces, with "no spans" and a failed search kept explicit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from autopilot_sdk.errors import WorkerError


@dataclass(frozen=True)
class SpanStats:
    """Span count, errors and latency percentiles (milliseconds) of a set of spans.

    >>> SpanStats.of("web", "GET /", spans=10, errors=1).error_ratio
    0.1
    """

    service: str = ""
    operation: str = ""
    """The operation (span name); empty in a total over several operations."""
    span_count: int = 0
    error_count: int = 0
    error_ratio: float = 0.0
    """error_count / span_count; 0 without spans."""
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0

    @classmethod
    def of(
        cls,
        service: str,
        operation: str,
        *,
        spans: int,
        errors: int = 0,
        p50_ms: float = 0.0,
        p90_ms: float = 0.0,
        p99_ms: float = 0.0,
    ) -> SpanStats:
        """Statistics with the ratio computed from the counts, for tests."""
        return cls(
            service,
            operation,
            spans,
            errors,
            errors / spans if spans else 0.0,
            p50_ms,
            p90_ms,
            p99_ms,
        )


@dataclass(frozen=True)
class ErrorSpan:
    """A failed span of a sample trace."""

    service: str
    operation: str
    status_message: str = ""


@dataclass(frozen=True)
class TraceSample:
    """A summary of one trace holding matching spans."""

    trace_id: str
    root_service: str = ""
    root_operation: str = ""
    duration_ms: float = 0.0
    start_unix_ms: int = 0
    error_spans: tuple[ErrorSpan, ...] = ()
    """The trace's failed spans, of any service, earliest first."""


@dataclass(frozen=True)
class Trace:
    """What the scheduler found for one trace query declared under `traces:`.

    `stats()` is the total over every matching span; None means no span matched, which is not
    the same as no errors:

    >>> t = Trace.from_operations([
    ...     SpanStats.of("web", "GET /checkout", spans=100, errors=0, p99_ms=31.0),
    ...     SpanStats.of("web", "charge-payment", spans=100, errors=25),
    ... ])
    >>> t.stats().error_ratio
    0.125
    >>> t.worst_operation().operation
    'charge-payment'
    >>> Trace.no_data_result().stats() is None
    True
    """

    query: str = ""
    """The search as the scheduler ran it (service, operation, tags, window, limit)."""
    no_data: bool = False
    """True when the search succeeded but no span matched."""
    error: str | None = None
    """Why the search could not be run (Jaeger unreachable, timed out); the rest is empty."""
    total: SpanStats = field(default_factory=SpanStats)
    operations: tuple[SpanStats, ...] = ()
    """Statistics per operation of the matching spans, by operation name."""
    samples: tuple[TraceSample, ...] = ()
    """Traces holding matching spans: those with failed spans first, then the slowest."""

    @classmethod
    def from_operations(cls, operations: Iterable[SpanStats], query: str = "") -> Trace:
        """A result with these operations; the total adds their counts up and takes their
        highest percentiles (an upper bound), for tests."""
        ops = tuple(sorted(operations, key=lambda o: o.operation))
        spans = sum(o.span_count for o in ops)
        errors = sum(o.error_count for o in ops)
        total = SpanStats.of(
            "",
            "",
            spans=spans,
            errors=errors,
            p50_ms=max((o.p50_ms for o in ops), default=0.0),
            p90_ms=max((o.p90_ms for o in ops), default=0.0),
            p99_ms=max((o.p99_ms for o in ops), default=0.0),
        )
        return cls(query=query, no_data=spans == 0, total=total, operations=ops)

    @classmethod
    def no_data_result(cls, query: str = "") -> Trace:
        """A search that found no matching span, for tests."""
        return cls(query=query, no_data=True)

    @classmethod
    def failed(cls, error: str, query: str = "") -> Trace:
        """A search that could not be run, for tests."""
        return cls(query=query, error=error)

    def stats(self) -> SpanStats | None:
        """The statistics of every matching span; None when no span matched.

        Raises `WorkerError.retryable` when the search failed.
        """
        if self.error is not None:
            raise WorkerError.retryable(f"trace query {self.query!r} failed: {self.error}")
        if self.no_data or self.total.span_count == 0:
            return None
        return self.total

    def operation(self, name: str) -> SpanStats | None:
        """The statistics of operation `name`, when it had matching spans."""
        return next((o for o in self.operations if o.operation == name), None)

    def worst_operation(self) -> SpanStats | None:
        """The operation with the highest error ratio (ties: most errors, then by name), when
        any of its spans failed."""
        failing = [o for o in self.operations if o.error_count > 0]
        if not failing:
            return None
        return min(failing, key=lambda o: (-o.error_ratio, -o.error_count, o.operation))

    def slowest_operation(self) -> SpanStats | None:
        """The operation with the highest p99 latency, when there is any."""
        if not self.operations:
            return None
        return min(self.operations, key=lambda o: (-o.p99_ms, o.operation))
