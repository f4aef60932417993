"""Traffic: where requests go in each state of a release (`Split`), which split a phase holds,
and the object that carries it — an Istio VirtualService, a Gateway API HTTPRoute, or (no mesh)
the selector of the target's Service. Field for field the same as the Rust worker's
(../testdata/traffic.json holds the shapes both workers' tests compare against)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from canary_worker.model import Info, Match, Spec
from canary_worker.release import canary_name, primary_name


@dataclass(frozen=True)
class Split:
    """Where the requests to the target go. `kind` is weighted (`value` percent to the canary),
    mirrored (all to the primary, a copy of `value` percent to the canary), matched (requests
    matching spec.match to the canary) or switched (all to the canary)."""

    kind: str
    value: int = 0


PRIMARY = Split("weighted", 0)
"""Everything to the primary."""


def check(spec: Spec) -> str | None:
    """None when strategy, traffic, mirror and match fit together; else what does not."""
    if spec.traffic == "kubernetes":
        if spec.strategy != "blueGreen":
            return (
                "spec.traffic kubernetes cannot split traffic (a Service selects one track): "
                f"it serves spec.strategy blueGreen only, not {spec.strategy}"
            )
        if spec.mirror is not None:
            return "spec.mirror needs a route: set spec.traffic to istio or gatewayapi"
    if spec.traffic == "linkerd" and spec.mirror is not None:
        return (
            "spec.mirror: Linkerd's HTTPRoute has no RequestMirror filter; "
            "set spec.traffic to istio or gatewayapi to mirror"
        )
    if spec.strategy == "abTesting" and not spec.match:
        return "spec.match: strategy abTesting needs at least one entry"
    for i, m in enumerate(spec.match):
        named = [n for n in (m.header, m.cookie) if n is not None]
        valued = [v for v in (m.exact, m.regex) if v is not None]
        if len(named) != 1 or named[0] == "":
            return f"spec.match[{i}]: name a header or a cookie (one of them, not empty)"
        if len(valued) != 1:
            return f"spec.match[{i}]: give exact or regex (one of them)"
    return None


def mirroring(spec: Spec, info: Info) -> bool:
    """Whether the analysis is still mirroring (fewer healthy checks than mirror.iterations)."""
    return spec.mirror is not None and info.passed_checks < spec.mirror.iterations


def analysing(spec: Spec, info: Info) -> Split:
    """The split an analysis in the state of `info` holds: the mirror first, then the
    strategy's own (the current weight, the matched requests, or none for blue/green)."""
    if spec.mirror is not None and mirroring(spec, info):
        return Split("mirrored", min(spec.mirror.percentage, 100))
    if spec.strategy == "canary":
        return Split("weighted", info.current_weight)
    if spec.strategy == "abTesting":
        return Split("matched")
    return PRIMARY


def promoting(spec: Spec, info: Info) -> Split:
    """The split Promoting holds until the primary has rolled out: the canary keeps what the
    analysis gave it, blue/green switches everything to it. None while mirroring, nor for
    abTesting or blueGreen promoted before any check (its canary may have no replicas)."""
    if mirroring(spec, info):
        return PRIMARY
    if spec.strategy == "canary":
        return Split("weighted", info.current_weight)
    if info.iteration == 0:
        return PRIMARY
    return Split("matched") if spec.strategy == "abTesting" else Split("switched")


def describe(split: Split) -> str:
    """A short description of `split` for messages."""
    if split.kind == "weighted":
        return f"canary weight {split.value}%"
    if split.kind == "mirrored":
        return f"{split.value}% of the requests mirrored to the canary"
    if split.kind == "matched":
        return "matching requests to the canary"
    return "all traffic to the canary"


def canary_weight_of(route: dict[str, Any]) -> int | None:
    """The canary's weight in the last rule (the one without matches) of a route."""
    spec = route.get("spec") or {}
    rules = spec.get("http") or spec.get("rules") or []
    if not rules:
        return None
    last = rules[-1]
    for b in last.get("route") or last.get("backendRefs") or []:
        name = (b.get("destination") or {}).get("host") or b.get("name") or ""
        if name.endswith("-canary"):
            weight = b.get("weight")
            return int(weight) if weight is not None else None
    return None


def object_for(spec: Spec, split: Split) -> dict[str, Any]:
    """The object carrying `split` for spec.traffic."""
    if spec.traffic in ("gatewayapi", "linkerd"):
        return _http_route(spec, split)
    if spec.traffic == "kubernetes":
        return apex_service(spec, split)
    return _virtual_service(spec, split)


def apex_service(spec: Spec, split: Split) -> dict[str, Any]:
    """The Service named after the target, selecting the primary, or the canary once switched."""
    switched = split.kind == "switched" or split == Split("weighted", 100)
    track = canary_name(spec) if switched else primary_name(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": spec.target_ref},
        "spec": {
            "selector": {"app": track},
            "ports": [{"name": "http", "port": spec.port, "targetPort": spec.port}],
        },
    }


def _canary_share(split: Split) -> int:
    if split.kind == "weighted":
        return min(split.value, 100)
    return 100 if split.kind == "switched" else 0


def _virtual_service(spec: Spec, split: Split) -> dict[str, Any]:
    def destination(host: str, weight: int) -> dict[str, Any]:
        return {"destination": {"host": host, "port": {"number": spec.port}}, "weight": weight}

    share = _canary_share(split)
    main: dict[str, Any] = {
        "route": [
            destination(primary_name(spec), 100 - share),
            destination(canary_name(spec), share),
        ]
    }
    rules: list[dict[str, Any]] = []
    if split.kind == "mirrored":
        main["mirror"] = {"host": canary_name(spec), "port": {"number": spec.port}}
        main["mirrorPercentage"] = {"value": split.value}
    elif split.kind == "matched":
        rules.append(
            {
                "match": [_istio_match(m) for m in spec.match],
                "route": [destination(canary_name(spec), 100)],
            }
        )
    rules.append(main)
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": spec.target_ref},
        "spec": {"hosts": [spec.target_ref], "http": rules},
    }


def _istio_match(m: Match) -> dict[str, Any]:
    header, how, value = header_match(m)
    return {"headers": {header: {how: value}}}


def _http_route(spec: Spec, split: Split) -> dict[str, Any]:
    def backend(name: str, weight: int) -> dict[str, Any]:
        return {"name": name, "port": spec.port, "weight": weight}

    share = _canary_share(split)
    main: dict[str, Any] = {
        "backendRefs": [backend(primary_name(spec), 100 - share), backend(canary_name(spec), share)]
    }
    rules: list[dict[str, Any]] = []
    if split.kind == "mirrored":
        main["filters"] = [
            {
                "type": "RequestMirror",
                "requestMirror": {
                    "backendRef": {"name": canary_name(spec), "port": spec.port},
                    "percent": split.value,
                },
            }
        ]
    elif split.kind == "matched":
        rules.append(
            {
                "matches": [_gateway_match(m) for m in spec.match],
                "backendRefs": [backend(canary_name(spec), 100)],
            }
        )
    rules.append(main)
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": spec.target_ref},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": spec.target_ref}],
            "rules": rules,
        },
    }


def _gateway_match(m: Match) -> dict[str, Any]:
    header, how, value = header_match(m)
    kind = "Exact" if how == "exact" else "RegularExpression"
    return {"headers": [{"type": kind, "name": header, "value": value}]}


def header_match(m: Match) -> tuple[str, str, str]:
    """The header, the kind of match (exact or regex) and the value of a spec.match entry; a
    cookie is matched inside the cookie header by a regular expression."""
    if m.header is not None:
        if m.exact is not None:
            return m.header.lower(), "exact", m.exact
        return m.header.lower(), "regex", m.regex or ""
    name = escape(m.cookie or "")
    wanted = escape(m.exact) if m.exact is not None else f"(?:{m.regex or ''})"
    return "cookie", "regex", rf"^(.*?;\s*)?{name}={wanted}(;.*)?$"


_METACHARACTERS = frozenset("\\.+*?()|[]{}^$")


def escape(text: str) -> str:
    """`text` with every RE2 metacharacter escaped by a backslash (the Rust worker escapes the
    same set; `re.escape` escapes more)."""
    return "".join("\\" + c if c in _METACHARACTERS else c for c in text)
