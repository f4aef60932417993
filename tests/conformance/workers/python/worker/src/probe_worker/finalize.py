"""Cleanup before a Probe is deleted: not done on the first call, done on every later one."""

import threading
from datetime import timedelta

from autopilot_sdk import Context, Finalized

from probe_worker.model import Spec, StatusInfo

_calls: dict[str, int] = {}
_lock = threading.Lock()


def handle(ctx: Context[Spec, StatusInfo]) -> Finalized:
    """The first call for a resource answers not yet (again in 200 ms); later calls are done."""
    key = f"{ctx.namespace}/{ctx.name}"
    with _lock:
        _calls[key] = _calls.get(key, 0) + 1
        first = _calls[key] == 1
    if first:
        return Finalized.not_yet().requeue_after(timedelta(milliseconds=200))
    return Finalized.finished()
