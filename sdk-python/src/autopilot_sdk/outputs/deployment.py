"""`Deployment`: an `apps/v1` Deployment of one container."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from autopilot_sdk.errors import WorkerError
from autopilot_sdk.outputs.metadata import Metadata


class Deployment(Metadata):
    """A Deployment: an image (or the pod template of an existing Deployment), replicas, ports.
    Pods are selected by `app: <name>` unless selector labels are given.

    >>> d = Deployment("web-canary").image("web:2").replicas(1).container_port(8080).to_json()
    >>> d["spec"]["selector"], d["spec"]["template"]["spec"]["containers"][0]["image"]
    ({'matchLabels': {'app': 'web-canary'}}, 'web:2')
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._selector: dict[str, str] = {}
        self._replicas: int | None = None
        self._image: str | None = None
        self._ports: list[int] = []
        self._template: dict[str, Any] | None = None

    def selector_label(self, key: str, value: str) -> Deployment:
        """Selects pods by this label (and puts it on the pod template)."""
        self._selector[key] = value
        return self

    def replicas(self, replicas: int) -> Deployment:
        """The number of pods."""
        self._replicas = replicas
        return self

    def image(self, image: str) -> Deployment:
        """The image of the (first) container."""
        self._image = image
        return self

    def container_port(self, port: int) -> Deployment:
        """A TCP port the (first) container listens on."""
        self._ports.append(port)
        return self

    def template_from(self, existing: Mapping[str, Any]) -> Deployment:
        """Copies the pod template of an existing Deployment (from an input), for a canary of it."""
        template = (existing.get("spec") or {}).get("template")
        if not isinstance(template, dict):
            raise WorkerError.invalid("the existing Deployment has no spec.template")
        self._template = copy.deepcopy(template)
        return self

    def to_json(self) -> dict[str, Any]:
        """The object as JSON; raises `WorkerError.invalid` without an image or a template."""
        if self._image is None and self._template is None:
            raise WorkerError.invalid(f"deployment {self.name!r} needs an image or a template")
        selector = dict(self._selector) or {"app": self.name}
        template = copy.deepcopy(self._template) if self._template else {}
        template.setdefault("metadata", {}).setdefault("labels", {}).update(selector)
        pod = template.setdefault("spec", {})
        containers = pod.setdefault("containers", [])
        if not containers:
            containers.append({"name": self.name})
        first = containers[0]
        if self._image is not None:
            first["image"] = self._image
        ports = first.setdefault("ports", []) if self._ports else []
        for port in self._ports:
            if not any(p.get("containerPort") == port for p in ports):
                ports.append({"containerPort": port, "protocol": "TCP"})
        spec: dict[str, Any] = {}
        if self._replicas is not None:
            spec["replicas"] = self._replicas
        spec["selector"] = {"matchLabels": selector}
        spec["template"] = template
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self._metadata(),
            "spec": spec,
        }
