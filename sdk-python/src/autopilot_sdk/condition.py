"""`Condition`: a status condition in the shape of metav1.Condition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCHEDULER_CONDITIONS: tuple[str, ...] = (
    "Ready",
    "Progressing",
    "WorkerError",
    "InputsAvailable",
    "MetricsAvailable",
    "Paused",
    "AwaitingApproval",
    "Aborted",
)
"""The condition types the scheduler owns and writes itself. A worker may read them but not set
them: `Outcome.condition` raises `WorkerError` for one, before the scheduler would refuse it.

- `Ready`: the resource is in a final phase, or its last call succeeded;
- `Progressing`: the resource is moving through its phases (`Blocked`, `Retrying`, ...);
- `WorkerError`: the last worker call, or applying its result, failed;
- `InputsAvailable`: every resource input of the phase could be read;
- `MetricsAvailable`: every metric query of the phase succeeded;
- `Paused`: the resource is held by `ap pause`;
- `AwaitingApproval`: a gate of the current phase waits for `ap approve`;
- `Aborted`: `ap abort` was honoured, or could not be.
"""


def refusal(type: str) -> str | None:
    """Why a worker may not set a condition of `type`, or None when it may.

    >>> refusal("Healthy") is None
    True
    >>> refusal("Ready")[:46]
    'condition type Ready is owned by the scheduler'
    """
    if not type:
        return "a condition needs a type"
    if type in SCHEDULER_CONDITIONS:
        return (
            f"condition type {type} is owned by the scheduler (it owns "
            f"{', '.join(SCHEDULER_CONDITIONS)}); give the condition a type of the operator's "
            "own, such as Healthy or Analyzed"
        )
    return None


@dataclass(frozen=True)
class Condition:
    """A condition on `.status.conditions`, merged by type with the scheduler's own.

    >>> Condition.of("Healthy", True, "ChecksPassed", "all checks passed").status
    'True'
    """

    type: str
    """CamelCase type, for example `Healthy`. The scheduler owns those in `SCHEDULER_CONDITIONS`."""
    status: str
    """`True`, `False` or `Unknown`."""
    reason: str
    """CamelCase reason."""
    message: str = ""
    """Human-readable message."""

    @classmethod
    def of(cls, type: str, status: bool | str, reason: str, message: str = "") -> Condition:
        """A condition whose status may be given as a bool."""
        if isinstance(status, bool):
            status = "True" if status else "False"
        return cls(type=type, status=status, reason=reason, message=message)

    @classmethod
    def from_json(cls, value: Any) -> Condition | None:
        """The condition in a JSON object of the resource's status, or None if it is not one."""
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            return None
        return cls(
            type=value["type"],
            status=str(value.get("status", "Unknown")),
            reason=str(value.get("reason", "")),
            message=str(value.get("message", "")),
        )
