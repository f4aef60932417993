"""Revisions: FNV-1a (64 bit) of a pod template's canonical JSON, as the Rust worker does."""

from __future__ import annotations

import json
from typing import Any

_OFFSET = 0xCBF29CE484222325
_PRIME = 0x100000001B3
_MASK = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    """FNV-1a, 64 bit."""
    h = _OFFSET
    for b in data:
        h = ((h ^ b) * _PRIME) & _MASK
    return h


def of_template(template: Any) -> str:
    """The revision of a pod template: 16 lowercase hex digits."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{fnv1a64(text.encode()):016x}"


def of_deployment(deployment: dict[str, Any]) -> str | None:
    """The revision of a Deployment's spec.template, or None without one."""
    template = (deployment.get("spec") or {}).get("template")
    return None if template is None else of_template(template)
