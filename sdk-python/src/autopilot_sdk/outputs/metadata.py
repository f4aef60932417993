"""`Metadata`: the name, namespace and labels every output builder carries."""

from __future__ import annotations

from typing import Any, TypeVar

Self = TypeVar("Self", bound="Metadata")


class Metadata:
    """The object metadata shared by every builder: name, optional namespace, labels."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._namespace: str | None = None
        self._labels: dict[str, str] = {}

    def namespace(self: Self, namespace: str) -> Self:
        """Puts the object in `namespace` (default: the resource's namespace)."""
        self._namespace = namespace
        return self

    def label(self: Self, key: str, value: str) -> Self:
        """Adds a label to the object's metadata."""
        self._labels[key] = value
        return self

    def _metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name}
        if self._namespace is not None:
            metadata["namespace"] = self._namespace
        if self._labels:
            metadata["labels"] = dict(sorted(self._labels.items()))
        return metadata
