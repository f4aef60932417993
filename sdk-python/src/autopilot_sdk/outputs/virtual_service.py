"""`VirtualService`: an Istio `networking.istio.io/v1` VirtualService with weighted routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autopilot_sdk.outputs.metadata import Metadata


@dataclass(frozen=True)
class Destination:
    """One weighted destination of a route: a host, optionally a subset and a port."""

    host: str
    weight: int
    subset: str | None = None
    port: int | None = None

    def to_json(self) -> dict[str, Any]:
        destination: dict[str, Any] = {"host": self.host}
        if self.subset is not None:
            destination["subset"] = self.subset
        if self.port is not None:
            destination["port"] = {"number": self.port}
        return {"destination": destination, "weight": self.weight}


class VirtualService(Metadata):
    """A VirtualService whose HTTP routes split traffic between destinations by weight.
    Hosts default to the object's name.

    >>> vs = VirtualService("web").route(Destination("web", 90), Destination("web-canary", 10))
    >>> [d["weight"] for d in vs.to_json()["spec"]["http"][0]["route"]]
    [90, 10]
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._hosts: list[str] = []
        self._gateways: list[str] = []
        self._routes: list[tuple[Destination, ...]] = []

    def host(self, host: str) -> VirtualService:
        """A host the routes apply to."""
        self._hosts.append(host)
        return self

    def gateway(self, gateway: str) -> VirtualService:
        """A gateway the routes apply to (default: the mesh)."""
        self._gateways.append(gateway)
        return self

    def route(self, *destinations: Destination) -> VirtualService:
        """An HTTP route splitting traffic between `destinations` by their weights."""
        self._routes.append(destinations)
        return self

    def to_json(self) -> dict[str, Any]:
        """The object as JSON."""
        spec: dict[str, Any] = {"hosts": self._hosts or [self.name]}
        if self._gateways:
            spec["gateways"] = self._gateways
        spec["http"] = [{"route": [d.to_json() for d in route]} for route in self._routes]
        return {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": self._metadata(),
            "spec": spec,
        }
