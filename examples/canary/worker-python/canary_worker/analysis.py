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
    """Judges one check against the thresholds and the no-data policy."""
    problems: list[str] = []
    missing: list[str] = []
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
    if problems:
        return Verdict("unhealthy", "; ".join(problems))
    rate = f"{success_rate.value:.3f}" if success_rate.value is not None else "-"
    p99 = f"{latency_p99_ms.value:.0f} ms" if latency_p99_ms.value is not None else "-"
    summary = f"success rate {rate}, p99 {p99}"
    if not missing:
        return Verdict("healthy", summary)
    gaps = ", ".join(missing)
    if spec.no_data == "fail":
        return Verdict("unhealthy", f"{gaps} (noData: fail)")
    if spec.no_data == "hold":
        return Verdict("hold", f"{gaps} (noData: hold)")
    return Verdict("healthy", f"{summary}; {gaps} (noData: pass)")


def step(spec: Spec, info: Info, verdict: Verdict) -> Step:
    """The step after a check, given the analysis so far."""
    if verdict.kind == "healthy":
        if info.current_weight >= spec.max_weight:
            return Step("promote")
        return Step("advance", weight=min(info.current_weight + spec.step_weight, spec.max_weight))
    if verdict.kind == "hold":
        return Step("hold")
    failed = info.failed_checks + 1
    return Step("rollback" if failed >= spec.failure_limit else "failed", failed_checks=failed)


def reading_of(value: float | None, no_data: bool, error: str | None) -> Reading:
    """A Reading from a metric's parts."""
    if error is not None:
        return Reading("error", error=error)
    if no_data or value is None:
        return Reading("noData")
    if math.isnan(value):
        return Reading("nan")
    return Reading("ok", value=value)
