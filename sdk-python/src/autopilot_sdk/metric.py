"""`Metric`: the typed result of one Prometheus query, with "no data" and NaN kept explicit."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from autopilot_sdk.errors import WorkerError


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

    def value(self) -> float | None:
        """The single value of a scalar, or of a vector or matrix with one series (its latest
        sample); None when there is no data.

        Raises `WorkerError.retryable` when the query failed, and `WorkerError.invalid` when the
        result holds several series (pick one from `series` instead).
        """
        if self.error is not None:
            raise WorkerError.retryable(f"query {self.query!r} failed: {self.error}")
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
