"""Checking: fail on request, check the two queries, then count checks (../../SCENARIO.md)."""

from datetime import timedelta

from autopilot_sdk import Context, Outcome, WorkerError

from probe_worker.model import Spec, StatusInfo
from probe_worker.phases.preparing import probe_config_map

REQUEUE = timedelta(milliseconds=300)
"""How soon a check that stays runs again."""


def handle(ctx: Context[Spec, StatusInfo]) -> Outcome:
    """Fail as the spec asks, verify `one` and `missing`, then stay once and finish."""
    if ctx.spec.permanent:
        raise WorkerError.permanent("permanent failure requested")
    if ctx.attempt <= (ctx.spec.fail_first or 0):
        raise WorkerError.retryable(f"transient failure {ctx.attempt}")

    one = ctx.metric("one")
    value = one.value()
    if value is None or value != ctx.spec.factor:
        raise WorkerError.invalid(f"one: want {ctx.spec.factor}, got {value}")
    if not ctx.metric("missing").no_data:
        raise WorkerError.invalid("missing: want no data")

    previous = ctx.status_info or StatusInfo()
    checks = (previous.checks or 0) + 1
    info = StatusInfo(seen=previous.seen, checks=checks, last_query=one.query)
    if checks < 2:
        return Outcome.stay().output(probe_config_map(ctx)).status(info).requeue_after(REQUEUE)
    return (
        Outcome.next("Done")
        .output(probe_config_map(ctx))
        .status(info)
        .event_normal("Checked", f"one={value:g} missing=no-data")
    )
