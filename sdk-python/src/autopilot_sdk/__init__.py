"""The Autopilot SDK for Python: write a worker as one plain function per phase.

A worker registers its handlers and serves them over gRPC (`autopilot.worker.v1`); the scheduler
calls it with the resource and the phase's inputs, and applies what it returns. Start with
`Worker`, `Context` and `Outcome`; `outputs` builds the objects phases commonly return.

>>> from pydantic import BaseModel
>>> class Spec(BaseModel):
...     target: str
>>> class Info(BaseModel):
...     pass
>>> def preparing(ctx: Context[Spec, Info]) -> Outcome:
...     return Outcome.next("Checking").event_normal("Prepared", f"prepared {ctx.spec.target}")
>>> preparing(Context.for_test(Spec(target="web"), Info)).next_phase
'Checking'
"""

from autopilot_sdk import outputs
from autopilot_sdk.condition import SCHEDULER_CONDITIONS, Condition
from autopilot_sdk.context import Context, InputUnavailable
from autopilot_sdk.errors import ErrorKind, WorkerError
from autopilot_sdk.external import ExternalEvent
from autopilot_sdk.metric import (
    DEFAULT_MAX_ATTEMPTS,
    Metric,
    MetricKind,
    MetricUnavailableError,
    Sample,
    Series,
)
from autopilot_sdk.model import Model
from autopilot_sdk.outcome import Event, Finalized, Outcome, Severity
from autopilot_sdk.serve import Config, ServeError
from autopilot_sdk.trace import ErrorSpan, SpanStats, Trace, TraceSample
from autopilot_sdk.worker import PROTOCOL_VERSION, Description, Worker

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "PROTOCOL_VERSION",
    "SCHEDULER_CONDITIONS",
    "Condition",
    "Config",
    "Context",
    "Description",
    "ErrorKind",
    "ErrorSpan",
    "Event",
    "ExternalEvent",
    "Finalized",
    "InputUnavailable",
    "Metric",
    "MetricKind",
    "MetricUnavailableError",
    "Model",
    "Outcome",
    "Sample",
    "Series",
    "ServeError",
    "Severity",
    "SpanStats",
    "Trace",
    "TraceSample",
    "Worker",
    "WorkerError",
    "outputs",
]
