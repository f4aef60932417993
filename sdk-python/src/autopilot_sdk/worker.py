"""`Worker`: the registry of a worker's phase handlers and its finalize handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic

from autopilot_sdk.context import Context, Info, Spec
from autopilot_sdk.outcome import Finalized, Outcome

if TYPE_CHECKING:
    from autopilot_sdk.serve import Config

PROTOCOL_VERSION = "v1"
"""The version of the worker contract this SDK speaks."""
CAPABILITIES = ("traceparent",)
"""The optional features announced in Describe."""

PhaseHandler = Callable[[Context[Spec, Info]], Outcome]
"""A phase handler: a plain function from a context to an outcome (or raising WorkerError)."""
FinalizeHandler = Callable[[Context[Spec, Info]], Finalized]
"""A finalize handler: cleanup before the resource is deleted."""


@dataclass(frozen=True)
class Description:
    """What Describe answers: the worker's name and version, its phases, and its features."""

    name: str
    version: str
    phases: tuple[str, ...]
    finalize: bool
    protocol_version: str = PROTOCOL_VERSION
    capabilities: tuple[str, ...] = CAPABILITIES


class Worker(Generic[Spec, Info]):
    """A worker: one handler per phase it serves, optionally a finalize handler.

    >>> from pydantic import BaseModel
    >>> class Spec(BaseModel):
    ...     target: str = ""
    >>> class Info(BaseModel):
    ...     pass
    >>> worker = Worker("probe-worker", Spec, Info).phase("Preparing", lambda ctx: Outcome.stay())
    >>> worker.describe().phases
    ('Preparing',)
    """

    def __init__(
        self, name: str, spec_type: type[Spec], info_type: type[Info], version: str = "0.0.0"
    ) -> None:
        self.name = name
        self.version = version
        self.spec_type = spec_type
        self.info_type = info_type
        self._phases: dict[str, PhaseHandler[Spec, Info]] = {}
        self._finalize: FinalizeHandler[Spec, Info] | None = None

    def phase(self, name: str, handler: PhaseHandler[Spec, Info]) -> Worker[Spec, Info]:
        """Serves the phase `name` (exactly as declared in autopilot.yaml) with `handler`."""
        if name in self._phases:
            raise ValueError(f"phase {name!r} is registered twice")
        self._phases[name] = handler
        return self

    def finalize(self, handler: FinalizeHandler[Spec, Info]) -> Worker[Spec, Info]:
        """Runs `handler` before a resource is deleted (when autopilot.yaml enables the
        finalizer)."""
        self._finalize = handler
        return self

    def handler(self, phase: str) -> PhaseHandler[Spec, Info] | None:
        """The handler of `phase`, if this worker serves it."""
        return self._phases.get(phase)

    @property
    def finalize_handler(self) -> FinalizeHandler[Spec, Info] | None:
        """The finalize handler, if any."""
        return self._finalize

    def describe(self) -> Description:
        """The handshake answer, built from what is registered."""
        return Description(
            name=self.name,
            version=self.version,
            phases=tuple(self._phases),
            finalize=self._finalize is not None,
        )

    def serve(self, config: Config) -> None:
        """Serves until SIGTERM or SIGINT, then drains in-flight calls (see `serve.serve`)."""
        from autopilot_sdk.serve import serve

        serve(self, config)

    def serve_from_env(self) -> None:
        """Serves on $AUTOPILOT_WORKER_ADDR (see `serve.Config.from_env`)."""
        from autopilot_sdk.serve import Config

        self.serve(Config.from_env())
