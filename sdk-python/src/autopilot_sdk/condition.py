"""`Condition`: a status condition in the shape of metav1.Condition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Condition:
    """A condition on `.status.conditions`, merged by type with the scheduler's own.

    >>> Condition.of("Healthy", True, "ChecksPassed", "all checks passed").status
    'True'
    """

    type: str
    """CamelCase type, for example `Healthy`. The scheduler owns Ready, Progressing, WorkerError."""
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
