"""Shared test fixtures: a tiny typed model pair and a real gRPC server around a worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from autopilot_sdk import Config, Worker
from autopilot_sdk.serve import Running, start


class Spec(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    target: str = ""
    fail_first: int | None = None


class Info(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    checks: int | None = None


@pytest.fixture
def serve_worker() -> Iterator[object]:
    """Starts a worker on a free local port; stops every one started when the test ends."""
    started: list[Running] = []

    def run(worker: Worker[Spec, Info], address: str = "127.0.0.1:0") -> Running:
        running = start(worker, Config(address=address))
        started.append(running)
        return running

    yield run
    for running in started:
        running.stop(0)
