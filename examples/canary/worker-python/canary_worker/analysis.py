"""The analysis as pure functions: when a check is due, what its readings mean, what follows."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from canary_worker.model import Info, Spec


@dataclass(frozen=True)
class Reading:
    """One query's answer: `kind` is ok, noData, nan or error."""

    kind: str
    value: float | None = None
    error: str = ""


@dataclass(frozen=True)
class SpanReading:
    """What the canary's spans say: `kind` is ok, noData or unavailable (Jaeger down, which the
    no-data policy treats like no data). `worst` is the operation with the highest error-span
    ratio and that ratio; `slowest` the one with the highest p99 and that p99 in ms."""

    kind: str
    worst: tuple[str, float] = ("", 0.0)
    slowest: tuple[str, float] = ("", 0.0)
    error: str = ""


@dataclass(frozen=True)
class Verdict:
    """`kind` is healthy, unhealthy or hold; `message` says why."""

    kind: str
    message: str


@dataclass(frozen=True)
class Step:
    """`kind` is advance, promote, hold, failed or rollback."""

    kind: str
    weight: int = 0
    failed_checks: int = 0


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> timedelta:
    """`30s`, `1m`, `1m30s`, `500ms`; raises ValueError otherwise."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip().replace(" ", ""):
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


@dataclass(frozen=True)
class Gate:
    """What `spec.suspend` and `spec.skipAnalysis` make of a release: `kind` is analyse, skip
    (promote without checks) or suspend (no check, no step, no new revision started).
    `changed` is True when a suspension starts (suspend) or ends (analyse, skip) now."""

    kind: str
    changed: bool = False


def gate(spec: Spec, info: Info) -> Gate:
    """The gate of a release: `suspend` wins over `skipAnalysis`."""
    if spec.suspend:
        return Gate("suspend", changed=not info.suspended)
    return Gate("skip" if spec.skip_analysis else "analyse", changed=info.suspended)


def first_weight(spec: Spec) -> int:
    """An analysis starts at one step: a canary without traffic cannot be measured."""
    return min(spec.step_weight, spec.max_weight)


def is_new_revision(target_revision: str, info: Info) -> bool:
    """Neither what the primary serves nor the revision last analysed."""
    return target_revision not in (info.primary_revision, info.canary_revision)


def until_due(last_check: str | None, interval: timedelta, now: datetime) -> timedelta | None:
    """None when a check is due at `now`, else how long until it is."""
    if not last_check:
        return None
    last = datetime.fromisoformat(last_check.replace("Z", "+00:00"))
    wait = last + interval - now
    return wait if wait > timedelta(0) else None


def judge(spec: Spec, success_rate: Reading, latency_p99_ms: Reading) -> Verdict:
    """Judges one check's metric readings against the thresholds and the no-data policy."""
    return judge_check(spec, (success_rate, latency_p99_ms), None)


def failing_operation(spec: Spec, spans: SpanReading) -> str | None:
    """The operation the trace check blames: the worst one above maxSpanErrorRatio, else the
    slowest one above maxLatencyMs."""
    if spans.kind != "ok":
        return None
    if spans.worst[1] > spec.max_span_error_ratio:
        return spans.worst[0]
    if spans.slowest[1] > spec.max_latency_ms:
        return spans.slowest[0]
    return None


def judge_check(
    spec: Spec, metrics: tuple[Reading, Reading] | None, spans: SpanReading | None
) -> Verdict:
    """Judges one check: the metric readings when `spec.checks` includes metrics, the span
    reading when it includes traces; a crossed threshold wins over missing data."""
    problems: list[str] = []
    missing: list[str] = []
    summary: list[str] = []
    if metrics is not None and spec.checks != "traces":
        summary.append(_judge_metrics(spec, metrics[0], metrics[1], problems, missing))
    if spans is not None and spec.checks != "metrics":
        if spans.kind == "noData":
            missing.append("spans: no data")
        elif spans.kind == "unavailable":
            missing.append(f"spans: unavailable ({spans.error})")
        else:
            (worst, ratio), (slowest, p99) = spans.worst, spans.slowest
            if ratio > spec.max_span_error_ratio:
                problems.append(
                    f'span error ratio {ratio:.3f} of operation "{worst}" above '
                    f"{spec.max_span_error_ratio}"
                )
            if p99 > spec.max_latency_ms:
                problems.append(
                    f'span p99 {p99:.0f} ms of operation "{slowest}" above {spec.max_latency_ms} ms'
                )
            summary.append(
                f"span errors {ratio:.3f} at worst ({worst}), span p99 {p99:.0f} ms at worst "
                f"({slowest})"
            )
    if problems:
        return Verdict("unhealthy", "; ".join(problems))
    text = "; ".join(summary)
    if not missing:
        return Verdict("healthy", text)
    gaps = ", ".join(missing)
    if spec.no_data == "fail":
        return Verdict("unhealthy", f"{gaps} (noData: fail)")
    if spec.no_data == "hold":
        return Verdict("hold", f"{gaps} (noData: hold)")
    return Verdict("healthy", f"{text}; {gaps} (noData: pass)")


def _judge_metrics(
    spec: Spec,
    success_rate: Reading,
    latency_p99_ms: Reading,
    problems: list[str],
    missing: list[str],
) -> str:
    """Adds the metric readings' problems and gaps; returns their summary."""
    for name, r in (("success rate", success_rate), ("p99 latency", latency_p99_ms)):
        if r.kind == "error":
            problems.append(f"{name} query failed: {r.error}")
        elif r.kind == "noData":
            missing.append(f"{name}: no data")
        elif r.kind == "nan":
            missing.append(f"{name}: NaN")
    if success_rate.value is not None and success_rate.value < spec.success_threshold:
        problems.append(f"success rate {success_rate.value:.3f} below {spec.success_threshold}")
    if latency_p99_ms.value is not None and latency_p99_ms.value > spec.max_latency_ms:
        problems.append(f"p99 latency {latency_p99_ms.value:.0f} ms above {spec.max_latency_ms} ms")
    rate = f"{success_rate.value:.3f}" if success_rate.value is not None else "-"
    p99 = f"{latency_p99_ms.value:.0f} ms" if latency_p99_ms.value is not None else "-"
    return f"success rate {rate}, p99 {p99}"


def step(spec: Spec, info: Info, verdict: Verdict) -> Step:
    """The step after a check, given the analysis so far (`info` before the check).

    A healthy check under mirroring keeps the canary at weight 0; after the last of
    mirror.iterations the strategy's own traffic starts (the first weight step for canary). Past
    the mirror, canary steps its weight and promotes one healthy check after maxWeight;
    abTesting and blueGreen promote after `iterations` healthy checks."""
    if verdict.kind == "healthy":
        return _healthy_step(spec, info)
    if verdict.kind == "hold":
        return Step("hold")
    failed = info.failed_checks + 1
    return Step("rollback" if failed >= spec.failure_limit else "failed", failed_checks=failed)


def _healthy_step(spec: Spec, info: Info) -> Step:
    passed = info.passed_checks + 1
    mirrored = spec.mirror.iterations if spec.mirror is not None else 0
    if passed <= mirrored:
        last = passed == mirrored and spec.strategy == "canary"
        return Step("advance", weight=first_weight(spec) if last else 0)
    if spec.strategy == "canary":
        if info.current_weight >= spec.max_weight:
            return Step("promote")
        return Step("advance", weight=min(info.current_weight + spec.step_weight, spec.max_weight))
    if passed - mirrored >= spec.iterations:
        return Step("promote")
    return Step("advance", weight=0)


def start_weight(spec: Spec) -> int:
    """The canary weight a new analysis starts at: one step for canary, 0 for the other
    strategies and while mirroring."""
    return first_weight(spec) if spec.strategy == "canary" and spec.mirror is None else 0


def reading_of(value: float | None, no_data: bool, error: str | None) -> Reading:
    """A Reading from a metric's parts."""
    if error is not None:
        return Reading("error", error=error)
    if no_data or value is None:
        return Reading("noData")
    if math.isnan(value):
        return Reading("nan")
    return Reading("ok", value=value)
