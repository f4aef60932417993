"""The objects of a release: primary and canary Deployments and their Services (the traffic
between them is traffic.py's)."""

from __future__ import annotations

import copy
from typing import Any

from canary_worker.model import Spec


def primary_name(spec: Spec) -> str:
    return f"{spec.target_ref}-primary"


def canary_name(spec: Spec) -> str:
    return f"{spec.target_ref}-canary"


def find(deployments: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The Deployment named `name`."""
    return next((d for d in deployments if (d.get("metadata") or {}).get("name") == name), None)


def replicas(deployment: dict[str, Any]) -> int:
    """spec.replicas (1 when unset, as the API server defaults it)."""
    value = (deployment.get("spec") or {}).get("replicas")
    return int(value) if value is not None else 1


def rolled_out(deployment: dict[str, Any], source: dict[str, Any]) -> str | None:
    """None when `deployment` runs the pod template of `source` on all its replicas, each ready
    and no old one left (as `kubectl rollout status` judges it); else what it still waits for."""
    name = (deployment.get("metadata") or {}).get("name", "")

    def template_spec(d: dict[str, Any]) -> Any:
        return ((d.get("spec") or {}).get("template") or {}).get("spec")

    if template_spec(deployment) != template_spec(source):
        return f"{name} does not have the new pod template yet"
    want = replicas(deployment)
    status = deployment.get("status") or {}

    def count(field: str) -> int:
        return int(status.get(field) or 0)

    generation = int((deployment.get("metadata") or {}).get("generation") or 0)
    if count("observedGeneration") < generation:
        return f"{name} has not started its rollout yet"
    ready = min(count("readyReplicas"), count("updatedReplicas"))
    if ready < want:
        return f"{name} has {ready} of {want} replicas ready"
    old = count("replicas") - want
    if old > 0:
        return f"{name} still has {old} old replicas"
    return None


def deployment(name: str, source: dict[str, Any], count: int) -> dict[str, Any]:
    """A Deployment `name` running `source`'s pod template, its pods labelled app=<name>."""
    template = copy.deepcopy((source.get("spec") or {}).get("template") or {})
    template.setdefault("metadata", {}).setdefault("labels", {})["app"] = name
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": count,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        },
    }


def services(spec: Spec) -> list[dict[str, Any]]:
    """The -primary and -canary Services, and the apex Service selecting the primary unless
    spec.traffic is kubernetes (then the apex Service carries the traffic: traffic.py)."""

    def service(name: str, app: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "selector": {"app": app},
                "ports": [{"name": "http", "port": spec.port, "targetPort": spec.port}],
            },
        }

    tracks = [
        service(primary_name(spec), primary_name(spec)),
        service(canary_name(spec), canary_name(spec)),
    ]
    if spec.traffic == "kubernetes":
        return tracks
    return [service(spec.target_ref, primary_name(spec)), *tracks]
