"""`Outcome` (what a phase handler returns) and `Finalized` (what a finalize handler returns)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from pydantic import BaseModel

from autopilot_sdk.condition import Condition, refusal
from autopilot_sdk.errors import WorkerError


class Severity(enum.Enum):
    """The type of the Kubernetes Event an outcome becomes."""

    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """An outcome reported as a Kubernetes Event on the resource."""

    severity: Severity
    reason: str
    """CamelCase reason, for example `WeightIncreased`."""
    message: str


class Output(Protocol):
    """An object builder from `autopilot_sdk.outputs`."""

    def to_json(self) -> dict[str, Any]: ...


def _as_json(value: BaseModel | Mapping[str, Any] | Output) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, Mapping):
        return dict(value)
    return value.to_json()


class Outcome:
    """The answer of a phase: the next phase (or stay), outputs, statusInfo, conditions, Events,
    and when to run again. Build it by chaining:

    >>> outcome = (
    ...     Outcome.next("Checking")
    ...     .output({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}})
    ...     .condition("Prepared", True, "Created", "prepared web")
    ...     .event_normal("Prepared", "prepared web")
    ... )
    >>> outcome.next_phase, len(outcome.outputs), outcome.events[0].severity.value
    ('Checking', 1, 'Normal')
    >>> Outcome.stay().requeue_after(timedelta(seconds=30)).requeue
    datetime.timedelta(seconds=30)
    """

    def __init__(self, next_phase: str | None = None) -> None:
        self.next_phase = next_phase
        """The phase to move to; None to stay in this one."""
        self.outputs: list[dict[str, Any]] = []
        """The objects to apply, as JSON."""
        self.status_info: dict[str, Any] | None = None
        """The new statusInfo as JSON; None keeps the current value."""
        self.conditions: list[Condition] = []
        self.events: list[Event] = []
        self.requeue: timedelta | None = None
        """When to run this phase again if it stays; None uses the operator's work interval."""

    @classmethod
    def next(cls, phase: str) -> Outcome:
        """Move to `phase` (a phase declared in autopilot.yaml)."""
        return cls(phase)

    @classmethod
    def stay(cls) -> Outcome:
        """Stay in the current phase; it runs again after `requeue_after` or the work interval."""
        return cls(None)

    def output(self, obj: BaseModel | Mapping[str, Any] | Output) -> Outcome:
        """Adds an object to apply: a dict, a pydantic model, or a builder from `outputs`.

        Raises `WorkerError.invalid` when it has no apiVersion, kind or metadata.name.
        """
        value = _as_json(obj)
        name = (value.get("metadata") or {}).get("name")
        if not value.get("apiVersion") or not value.get("kind") or not name:
            raise WorkerError.invalid("an output needs apiVersion, kind and metadata.name")
        self.outputs.append(value)
        return self

    def status(self, status_info: BaseModel | Mapping[str, Any]) -> Outcome:
        """Sets the statusInfo the scheduler stores and sends back next time."""
        self.status_info = _as_json(status_info)
        return self

    def condition(self, type: str, status: bool | str, reason: str, message: str = "") -> Outcome:
        """Sets a condition on .status.conditions (merged by type with the scheduler's own).

        Raises `WorkerError.invalid` for a type the scheduler owns (`SCHEDULER_CONDITIONS`:
        Ready, Progressing, WorkerError, InputsAvailable, MetricsAvailable, Paused,
        AwaitingApproval, Aborted) or an empty one.
        """
        why = refusal(type)
        if why is not None:
            raise WorkerError.invalid(why)
        self.conditions.append(Condition.of(type, status, reason, message))
        return self

    def event_normal(self, reason: str, message: str) -> Outcome:
        """Reports an Event of type Normal."""
        self.events.append(Event(Severity.NORMAL, reason, message))
        return self

    def event_warning(self, reason: str, message: str) -> Outcome:
        """Reports an Event of type Warning."""
        self.events.append(Event(Severity.WARNING, reason, message))
        return self

    def requeue_after(self, delay: timedelta) -> Outcome:
        """Runs this phase again after `delay` when it stays."""
        self.requeue = delay
        return self

    def __repr__(self) -> str:
        return f"Outcome(next_phase={self.next_phase!r}, outputs={len(self.outputs)})"


class Finalized:
    """The answer of a finalize handler: done, or not yet (called again later).

    >>> Finalized.not_yet().requeue_after(timedelta(milliseconds=200)).done
    False
    """

    def __init__(self, done: bool) -> None:
        self.done = done
        self.events: list[Event] = []
        self.requeue: timedelta | None = None

    @classmethod
    def finished(cls) -> Finalized:
        """Cleanup is complete: the scheduler may remove the finalizer."""
        return cls(True)

    @classmethod
    def not_yet(cls) -> Finalized:
        """Cleanup is still running: call again."""
        return cls(False)

    def requeue_after(self, delay: timedelta) -> Finalized:
        """When not done: call again after `delay` instead of the retry backoff."""
        self.requeue = delay
        return self

    def event_normal(self, reason: str, message: str) -> Finalized:
        """Reports an Event of type Normal."""
        self.events.append(Event(Severity.NORMAL, reason, message))
        return self

    def event_warning(self, reason: str, message: str) -> Finalized:
        """Reports an Event of type Warning."""
        self.events.append(Event(Severity.WARNING, reason, message))
        return self
