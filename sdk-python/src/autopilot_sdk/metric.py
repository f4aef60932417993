"""`Metric`: the typed result of one Prometheus query, with "no data" and NaN kept explicit."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from autopilot_sdk.errors import ErrorKind, WorkerError

DEFAULT_MAX_ATTEMPTS = 5
"""How many calls in a row `Metric.value()` lets a failed query be retried before it gives up:
the scheduler retries a retryable error without limit (unless the operator file sets
`retry.maxAttempts`), and a phase that waits on a metric would otherwise spin while whatever it
guards (a canary, an injected fault) stays in place."""


class MetricUnavailableError(WorkerError):
    """A query the phase reads could not be run (Prometheus unreachable, bad PromQL).

    Raised by `Metric.value()`. It is retryable for the first `max_attempts` calls in a row
    (counting the phase's consecutive failures, `status.failures`), then permanent: the resource
    shows a `WorkerError` condition and the phase stops being retried soon. A handler that must
    act when its metrics are gone (roll back a canary, remove a fault) catches it:

    >>> try:
    ...     Metric.failed("connection refused", query="up").value()
    ... except MetricUnavailableError as err:
    ...     err.is_retryable, err.attempt
    (True, 1)
    """

    def __init__(self, query: str, error: str, attempt: int, max_attempts: int) -> None:
        retrying = attempt < max_attempts
        if retrying:
            message = f"query {query!r} failed (call {attempt} of {max_attempts}): {error}"
        else:
            message = (
                f"query {query!r} failed on {attempt} calls in a row: {error}; no more "
                "retries (catch MetricUnavailableError in the handler to act on it, for example "
                "to roll back)"
            )
        super().__init__(ErrorKind.RETRYABLE if retrying else ErrorKind.PERMANENT, message)
        self.query = query
        """The PromQL as sent."""
        self.error = error
        """Why it could not be run."""
        self.attempt = attempt
        """The number of this call in the phase's run of failures (1 for the first)."""


class MetricKind(enum.Enum):
    """The result type Prometheus returned."""

    SCALAR = "scalar"
    VECTOR = "vector"
    MATRIX = "matrix"


@dataclass(frozen=True)
class Sample:
    """One sample: milliseconds since the Unix epoch and the value (NaN and infinities kept)."""

    timestamp_ms: int
    value: float


@dataclass(frozen=True)
class Series:
    """One time series: its labels (empty for a scalar) and its samples, oldest first."""

    labels: Mapping[str, str] = field(default_factory=dict)
    samples: tuple[Sample, ...] = ()


@dataclass(frozen=True)
class Metric:
    """The result of one query the phase reads.

    `value()` is the single number most phases want; it tells "no data" (None) apart from a
    value, and a NaN value (for example a ratio of two zero rates) stays `math.nan`:

    >>> Metric.scalar(0.99).value()
    0.99
    >>> Metric.no_data_result().value() is None
    True
    >>> Metric.scalar(math.nan).is_nan()
    True
    """

    kind: MetricKind = MetricKind.VECTOR
    series: tuple[Series, ...] = ()
    no_data: bool = False
    """True when the query succeeded but returned no samples: not the same as zero."""
    query: str = ""
    """The PromQL exactly as sent to Prometheus, after parameters were filled in."""
    error: str | None = None
    """Why the query could not be run (Prometheus unreachable, bad PromQL); series is empty."""
    failures: int = 0
    """Consecutive failed calls of the phase before this one (the resource's status.failures),
    which `value()` counts against its `max_attempts`."""

    @classmethod
    def scalar(cls, value: float, query: str = "") -> Metric:
        """A scalar result, for tests."""
        return cls(MetricKind.SCALAR, (Series({}, (Sample(0, value),)),), query=query)

    @classmethod
    def vector(cls, series: Iterable[Series], query: str = "") -> Metric:
        """A vector result (one sample per series), for tests."""
        series = tuple(series)
        return cls(MetricKind.VECTOR, series, no_data=not series, query=query)

    @classmethod
    def matrix(cls, series: Iterable[Series], query: str = "") -> Metric:
        """A matrix result (a range of samples per series), for tests."""
        series = tuple(series)
        return cls(MetricKind.MATRIX, series, no_data=not series, query=query)

    @classmethod
    def no_data_result(cls, query: str = "") -> Metric:
        """A query that succeeded without samples, for tests."""
        return cls(MetricKind.VECTOR, (), no_data=True, query=query)

    @classmethod
    def failed(cls, error: str, query: str = "") -> Metric:
        """A query that could not be run, for tests."""
        return cls(MetricKind.VECTOR, (), query=query, error=error)

    def value(self, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> float | None:
        """The single value of a scalar, or of a vector or matrix with one series (its latest
        sample); None when there is no data.

        Raises `MetricUnavailableError` when the query failed: retryable for the first
        `max_attempts` calls in a row, then permanent (catch it to act on it); and
        `WorkerError.invalid` when the result holds several series (pick one from `series`).

        >>> Metric.failed("timeout", query="up").value().__class__
        Traceback (most recent call last):
        ...
        autopilot_sdk.metric.MetricUnavailableError: query 'up' failed (call 1 of 5): timeout
        >>> import dataclasses
        >>> down = dataclasses.replace(Metric.failed("timeout", query="up"), failures=4)
        >>> try:
        ...     down.value()
        ... except MetricUnavailableError as err:
        ...     err.is_retryable
        False
        """
        if self.error is not None:
            raise MetricUnavailableError(self.query, self.error, self.failures + 1, max_attempts)
        if self.no_data or not self.series:
            return None
        if len(self.series) > 1:
            raise WorkerError.invalid(
                f"query {self.query!r} returned {len(self.series)} series, not one value"
            )
        samples = self.series[0].samples
        return samples[-1].value if samples else None

    def is_nan(self) -> bool:
        """True when `value()` is NaN."""
        value = self.value()
        return value is not None and math.isnan(value)
