"""`Context`: everything a phase handler is given for one call."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from autopilot_sdk.condition import Condition
from autopilot_sdk.errors import WorkerError
from autopilot_sdk.external import ExternalEvent
from autopilot_sdk.metric import Metric
from autopilot_sdk.trace import Trace

Spec = TypeVar("Spec", bound=BaseModel)
"""The resource's spec type (a pydantic model generated from the schema in autopilot.yaml)."""
Info = TypeVar("Info", bound=BaseModel)
"""The resource's statusInfo type."""
Model = TypeVar("Model", bound=BaseModel)


class InputUnavailable:
    """An object input the scheduler could not gather (for example its CRD is not installed)."""

    def __init__(self, error: str) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"InputUnavailable({self.error!r})"


class Context(Generic[Spec, Info]):
    """The custom resource with its spec and statusInfo typed, the phase's inputs, and facts
    about the call. The SDK builds it from the gRPC request; tests build one with `for_test`.

    >>> from pydantic import BaseModel
    >>> class Spec(BaseModel):
    ...     target: str
    >>> class Info(BaseModel):
    ...     seen: int | None = None
    >>> ctx: Context[Spec, Info] = Context.for_test(Spec(target="web"), Info, name="shop")
    >>> ctx.spec.target, ctx.name, ctx.namespace, ctx.status_info
    ('web', 'shop', 'default', None)
    """

    def __init__(
        self,
        *,
        phase: str,
        resource: dict[str, Any],
        spec: Spec,
        status_info: Info | None,
        objects: Mapping[str, list[dict[str, Any]] | InputUnavailable] | None = None,
        metrics: Mapping[str, Metric] | None = None,
        traces: Mapping[str, Trace] | None = None,
        events: Mapping[str, list[ExternalEvent] | InputUnavailable] | None = None,
        attempt: int = 1,
        tag: str = "",
        deadline: datetime | None = None,
        generation: int | None = None,
        operator_name: str = "",
        traceparent: str | None = None,
    ) -> None:
        self.phase = phase
        """The phase being run."""
        self.resource = resource
        """The whole custom resource (apiVersion, kind, metadata, spec, status) as parsed JSON."""
        self.spec = spec
        """The resource's spec, typed."""
        self.status_info = status_info
        """The statusInfo returned last time, typed; None before the first one."""
        self.attempt = attempt
        """1 for the first call of this phase for this object, incremented on every re-run."""
        self.tag = tag
        """A hash of the spec and every input: equal tags mean equal inputs."""
        self.deadline = deadline
        """When the scheduler stops waiting for this call (timezone-aware), if it said."""
        metadata = resource.get("metadata") or {}
        self.generation: int = (
            generation if generation is not None else int(metadata.get("generation") or 0)
        )
        """The resource's metadata.generation when the request was built."""
        self.operator_name = operator_name
        """The operatorName of autopilot.yaml."""
        self.traceparent = traceparent
        """The W3C traceparent of the scheduler's span, to continue its trace."""
        self._objects = dict(objects or {})
        self._metrics = dict(metrics or {})
        self._traces = dict(traces or {})
        self._events = dict(events or {})

    @classmethod
    def from_resource(
        cls,
        resource: dict[str, Any],
        spec_type: type[Spec],
        info_type: type[Info],
        *,
        phase: str = "",
        **facts: Any,
    ) -> Context[Spec, Info]:
        """Types the resource's spec and statusInfo; raises `WorkerError.invalid` when they do
        not match the schema."""
        try:
            spec = spec_type.model_validate(resource.get("spec") or {})
        except ValidationError as err:
            raise WorkerError.invalid(f"spec does not match the schema: {err}") from err
        raw_info = (resource.get("status") or {}).get("statusInfo")
        try:
            info = info_type.model_validate(raw_info) if raw_info is not None else None
        except ValidationError as err:
            raise WorkerError.invalid(
                f"status.statusInfo does not match the schema: {err}"
            ) from err
        return cls(phase=phase, resource=resource, spec=spec, status_info=info, **facts)

    @classmethod
    def for_test(
        cls,
        spec: Spec,
        info_type: type[Info],
        *,
        phase: str = "",
        name: str = "test",
        namespace: str | None = "default",
        labels: Mapping[str, str] | None = None,
        status_info: Info | None = None,
        objects: Mapping[str, list[dict[str, Any]] | InputUnavailable] | None = None,
        metrics: Mapping[str, Metric] | None = None,
        traces: Mapping[str, Trace] | None = None,
        events: Mapping[str, list[ExternalEvent] | InputUnavailable] | None = None,
        attempt: int = 1,
        generation: int = 1,
        resource: dict[str, Any] | None = None,
    ) -> Context[Spec, Info]:
        """A context for calling a handler as a plain function: no gRPC, no cluster.

        The resource is a minimal one named `name` in `namespace` (or `resource`, when given,
        with `spec` and `status_info` written into it).
        """
        resource = copy.deepcopy(resource) if resource is not None else {}
        metadata = resource.setdefault("metadata", {})
        metadata.setdefault("name", name)
        if namespace is not None:
            metadata.setdefault("namespace", namespace)
        metadata.setdefault("uid", "00000000-0000-0000-0000-000000000001")
        metadata.setdefault("generation", generation)
        if labels:
            metadata.setdefault("labels", {}).update(labels)
        resource["spec"] = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        if status_info is not None:
            resource.setdefault("status", {})["statusInfo"] = status_info.model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        return cls(
            phase=phase,
            resource=resource,
            spec=spec,
            status_info=status_info,
            objects=objects,
            metrics=metrics,
            traces=traces,
            events=events,
            attempt=attempt,
            generation=int(metadata["generation"]),
        )

    @property
    def metadata(self) -> dict[str, Any]:
        """The resource's metadata."""
        metadata = self.resource.get("metadata")
        return metadata if isinstance(metadata, dict) else {}

    @property
    def name(self) -> str:
        """The resource's metadata.name."""
        return str(self.metadata.get("name") or "")

    @property
    def namespace(self) -> str | None:
        """The resource's metadata.namespace; None for a cluster-scoped resource."""
        return self.metadata.get("namespace") or None

    @property
    def uid(self) -> str | None:
        """The resource's metadata.uid, when set."""
        return self.metadata.get("uid") or None

    @property
    def labels(self) -> dict[str, str]:
        """The resource's labels."""
        return dict(self.metadata.get("labels") or {})

    @property
    def annotations(self) -> dict[str, str]:
        """The resource's annotations."""
        return dict(self.metadata.get("annotations") or {})

    @property
    def conditions(self) -> list[Condition]:
        """The resource's current status.conditions."""
        raw = (self.resource.get("status") or {}).get("conditions") or []
        return [c for c in map(Condition.from_json, raw) if c is not None]

    @property
    def object_inputs(self) -> Sequence[str]:
        """The names of the object inputs this call carries."""
        return sorted(self._objects)

    def objects(self, key: str) -> list[dict[str, Any]]:
        """The objects of the input named `key` in autopilot.yaml, ordered by namespace and name.

        Raises `WorkerError.retryable` when the scheduler could not gather them, and
        `WorkerError.invalid` when the phase declares no such input.
        """
        found = self._objects.get(key)
        if found is None:
            raise WorkerError.invalid(f"this call has no object input {key!r}")
        if isinstance(found, InputUnavailable):
            raise WorkerError.retryable(f"input {key!r} is unavailable: {found.error}")
        return found

    def objects_as(self, key: str, model: type[Model]) -> list[Model]:
        """The objects of input `key`, each validated into `model`."""
        try:
            return [model.model_validate(item) for item in self.objects(key)]
        except ValidationError as err:
            raise WorkerError.invalid(f"an object of input {key!r} does not match: {err}") from err

    def metric(self, name: str) -> Metric:
        """The result of the query `name`; raises `WorkerError.invalid` when the phase does not
        read it."""
        found = self._metrics.get(name)
        if found is None:
            raise WorkerError.invalid(f"this call has no metric {name!r}")
        return self._with_failures(found)

    def _with_failures(self, metric: Metric) -> Metric:
        """`metric`, knowing how many calls of this phase failed in a row before this one."""
        status = self.resource.get("status")
        failures = status.get("failures") if isinstance(status, dict) else None
        if isinstance(failures, int) and failures > 0 and metric.failures == 0:
            return dataclasses.replace(metric, failures=failures)
        return metric

    @property
    def metrics(self) -> Mapping[str, Metric]:
        """Every query result of this call, by query name."""
        return {name: self._with_failures(m) for name, m in self._metrics.items()}

    def trace(self, name: str) -> Trace:
        """The result of the trace query `name`; raises `WorkerError.invalid` when the phase
        does not read it."""
        found = self._traces.get(name)
        if found is None:
            raise WorkerError.invalid(f"this call has no trace query {name!r}")
        return found

    @property
    def traces(self) -> Mapping[str, Trace]:
        """Every trace query result of this call, by trace query name."""
        return dict(self._traces)

    def events(self, source: str) -> list[ExternalEvent]:
        """The pending events of the event source `source` in autopilot.yaml, oldest first.

        Raises `WorkerError.retryable` when the scheduler could not read them, and
        `WorkerError.invalid` when the phase does not list the source among its inputs.

        >>> from pydantic import BaseModel
        >>> class Spec(BaseModel):
        ...     pass
        >>> approval = ExternalEvent.of_json("r-1", "approval", "approval", {"ok": True})
        >>> ctx = Context.for_test(Spec(), Spec, events={"approval": [approval]})
        >>> [e.id for e in ctx.events("approval")]
        ['r-1']
        """
        found = self._events.get(source)
        if found is None:
            raise WorkerError.invalid(f"this call has no event source {source!r}")
        if isinstance(found, InputUnavailable):
            raise WorkerError.retryable(f"events of {source!r} are unavailable: {found.error}")
        return list(found)
