"""Builders of the objects phases commonly return: pass one to `Outcome.output`.

>>> from autopilot_sdk import outputs
>>> outputs.config_map("web-probe").label("probe", "web").data("target", "web").to_json()["kind"]
'ConfigMap'
"""

from autopilot_sdk.outputs.config_map import ConfigMap
from autopilot_sdk.outputs.deployment import Deployment
from autopilot_sdk.outputs.http_route import Backend, HttpRoute, ParentRef
from autopilot_sdk.outputs.service import Service
from autopilot_sdk.outputs.virtual_service import Destination, VirtualService

__all__ = [
    "Backend",
    "ConfigMap",
    "Deployment",
    "Destination",
    "HttpRoute",
    "ParentRef",
    "Service",
    "VirtualService",
    "config_map",
    "deployment",
    "http_route",
    "service",
    "virtual_service",
]


def config_map(name: str) -> ConfigMap:
    """A ConfigMap named `name`."""
    return ConfigMap(name)


def deployment(name: str) -> Deployment:
    """A Deployment named `name`."""
    return Deployment(name)


def service(name: str) -> Service:
    """A Service named `name`."""
    return Service(name)


def virtual_service(name: str) -> VirtualService:
    """An Istio VirtualService named `name`."""
    return VirtualService(name)


def http_route(name: str) -> HttpRoute:
    """A Gateway API HTTPRoute named `name`."""
    return HttpRoute(name)
