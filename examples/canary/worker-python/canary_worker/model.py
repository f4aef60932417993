"""The CanaryDeployment spec and statusInfo, as declared in autopilot.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

HISTORY_LIMIT = 10
"""How many releases `Info.history` keeps."""


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Match(_Camel):
    """One `spec.match` entry: a header or a cookie, and its exact value or a regex (RE2)."""

    header: str | None = None
    cookie: str | None = None
    exact: str | None = None
    regex: str | None = None


class Mirror(_Camel):
    """`spec.mirror`: a copy of the traffic before any real traffic."""

    percentage: int = 100
    iterations: int = 1


class Spec(_Camel):
    """`.spec` of a CanaryDeployment; defaults mirror the CRD's."""

    target_ref: str = ""
    port: int = 80
    success_threshold: float = 0.99
    max_latency_ms: float = 500
    interval: str = "1m"
    analysis_period: str = "1m"
    step_weight: int = 10
    max_weight: int = 50
    failure_limit: int = 3
    no_data: Literal["fail", "hold", "pass"] = "hold"
    traffic: Literal["istio", "gatewayapi", "linkerd", "kubernetes"] = "istio"
    suspend: bool = False
    skip_analysis: bool = False
    checks: Literal["metrics", "traces", "both"] = "metrics"
    max_span_error_ratio: float = 0.01
    strategy: Literal["canary", "abTesting", "blueGreen"] = "canary"
    iterations: int = 5
    """Healthy checks that promote under abTesting and blueGreen (after the mirror checks)."""
    match: list[Match] = []
    """abTesting: requests matching any entry go to the canary."""
    mirror: Mirror | None = None


class QueryResult(_Camel):
    """One query of a check: the PromQL as sent and what it returned."""

    name: str = ""
    query: str = ""
    result: str = ""
    value: float | None = None


class Release(_Camel):
    """A finished release."""

    revision: str = ""
    outcome: str = ""
    finished_at: str = ""
    message: str = ""


class Info(_Camel):
    """`.status.statusInfo` of a CanaryDeployment."""

    current_weight: int = 0
    iteration: int = 0
    failed_checks: int = 0
    passed_checks: int = 0
    canary_revision: str = ""
    primary_revision: str = ""
    suspended: bool = False
    """Whether the release was suspended when last handled (so `Suspended` is reported once)."""
    last_check_time: str | None = None
    last_queries: list[QueryResult] = []
    failing_operation: str | None = None
    """The canary operation the last failed trace check blamed."""
    history: list[Release] = []
    message: str = ""

    def record(self, release: Release) -> None:
        """Appends `release`, dropping the oldest beyond HISTORY_LIMIT."""
        self.history = [*self.history, release][-HISTORY_LIMIT:]
