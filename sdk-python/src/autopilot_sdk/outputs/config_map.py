"""`ConfigMap`: a `v1` ConfigMap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autopilot_sdk.outputs.metadata import Metadata


class ConfigMap(Metadata):
    """A ConfigMap with string data.

    >>> ConfigMap("web").data("target", "v2").to_json()["data"]
    {'target': 'v2'}
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._data: dict[str, str] = {}

    def data(self, key: str, value: str) -> ConfigMap:
        """Sets one data entry."""
        self._data[key] = value
        return self

    def data_from(self, entries: Mapping[str, str]) -> ConfigMap:
        """Sets several data entries."""
        self._data.update(entries)
        return self

    def to_json(self) -> dict[str, Any]:
        """The object as JSON."""
        obj: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self._metadata(),
        }
        if self._data:
            obj["data"] = dict(sorted(self._data.items()))
        return obj
