"""`Service`: a `v1` Service in front of pods."""

from __future__ import annotations

from typing import Any

from autopilot_sdk.outputs.metadata import Metadata


class Service(Metadata):
    """A ClusterIP Service selecting pods by `app: <name>` unless a selector is given.

    >>> Service("web").port("http", 80, 8080).to_json()["spec"]["ports"][0]["targetPort"]
    8080
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._selector: dict[str, str] = {}
        self._ports: list[dict[str, Any]] = []

    def selector(self, key: str, value: str) -> Service:
        """Selects pods by this label."""
        self._selector[key] = value
        return self

    def port(self, name: str, port: int, target_port: int) -> Service:
        """A TCP port of the Service and the pod port it forwards to."""
        self._ports.append(
            {"name": name, "port": port, "targetPort": target_port, "protocol": "TCP"}
        )
        return self

    def to_json(self) -> dict[str, Any]:
        """The object as JSON."""
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self._metadata(),
            "spec": {"selector": dict(self._selector) or {"app": self.name}, "ports": self._ports},
        }
