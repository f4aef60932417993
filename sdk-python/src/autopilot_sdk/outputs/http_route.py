"""`HttpRoute`: a Gateway API `gateway.networking.k8s.io/v1` HTTPRoute with weighted backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autopilot_sdk.outputs.metadata import Metadata


@dataclass(frozen=True)
class Backend:
    """A Service backend of a rule, with its share of the traffic."""

    name: str
    weight: int | None = None
    port: int | None = None
    namespace: str | None = None

    def to_json(self) -> dict[str, Any]:
        backend: dict[str, Any] = {"group": "", "kind": "Service", "name": self.name}
        if self.namespace is not None:
            backend["namespace"] = self.namespace
        if self.port is not None:
            backend["port"] = self.port
        if self.weight is not None:
            backend["weight"] = self.weight
        return backend


@dataclass(frozen=True)
class ParentRef:
    """What a route attaches to: a Gateway, or a Service for mesh (GAMMA) routing."""

    name: str
    kind: str = "Gateway"
    group: str = "gateway.networking.k8s.io"
    namespace: str | None = None
    section_name: str | None = None

    @classmethod
    def service(cls, name: str) -> ParentRef:
        return cls(name, kind="Service", group="")

    def to_json(self) -> dict[str, Any]:
        parent: dict[str, Any] = {"name": self.name}
        if self.kind != "Gateway":
            parent = {"group": self.group, "kind": self.kind, "name": self.name}
        if self.namespace is not None:
            parent["namespace"] = self.namespace
        if self.section_name is not None:
            parent["sectionName"] = self.section_name
        return parent


class HttpRoute(Metadata):
    """An HTTPRoute whose rules split traffic between Service backends by weight.

    >>> r = HttpRoute("web").parent("public")
    >>> spec = r.rule(Backend("web", 90, 80), Backend("web-canary", 10, 80)).to_json()["spec"]
    >>> spec["parentRefs"], spec["rules"][0]["backendRefs"][1]["weight"]
    ([{'name': 'public'}], 10)
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._parents: list[ParentRef] = []
        self._hostnames: list[str] = []
        self._rules: list[tuple[Backend, ...]] = []

    def parent(self, gateway: str) -> HttpRoute:
        """Attaches the route to the Gateway `gateway` (in the route's namespace)."""
        return self.parent_ref(ParentRef(gateway))

    def parent_service(self, service: str) -> HttpRoute:
        """Attaches the route to the Service `service`: a mesh route for traffic to it."""
        return self.parent_ref(ParentRef.service(service))

    def parent_ref(self, parent: ParentRef) -> HttpRoute:
        """Attaches the route to any parent."""
        self._parents.append(parent)
        return self

    def hostname(self, hostname: str) -> HttpRoute:
        """A hostname the route matches."""
        self._hostnames.append(hostname)
        return self

    def rule(self, *backends: Backend) -> HttpRoute:
        """A rule splitting traffic between `backends` by their weights."""
        self._rules.append(backends)
        return self

    def to_json(self) -> dict[str, Any]:
        """The object as JSON."""
        spec: dict[str, Any] = {"parentRefs": [p.to_json() for p in self._parents]}
        if self._hostnames:
            spec["hostnames"] = self._hostnames
        spec["rules"] = [{"backendRefs": [b.to_json() for b in rule]} for rule in self._rules]
        return {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": self._metadata(),
            "spec": spec,
        }
