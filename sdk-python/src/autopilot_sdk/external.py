"""`ExternalEvent`: an event from outside the cluster delivered to a phase."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from autopilot_sdk.errors import WorkerError

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class ExternalEvent:
    """One external event (a CloudEvent, a GitHub delivery, a generic webhook call), in the
    shape of a CloudEvent. The scheduler hands each event to a resource's phase until a call of
    that phase succeeds and its result is written, so a handler sees an event again only when
    its previous call failed.

    >>> e = ExternalEvent.of_json("1", "https://ci.example.com", "ci.done", {"passed": True})
    >>> e.json()["passed"], e.type
    (True, 'ci.done')
    """

    id: str
    """Unique per source: the CloudEvents id, GitHub's X-GitHub-Delivery, or the webhook's id."""
    source: str
    """The CloudEvents source; for GitHub the repository's URL; for a webhook its name."""
    type: str
    """The CloudEvents type; for GitHub `event.action` such as `pull_request.closed`."""
    subject: str = ""
    """The CloudEvents subject, empty when absent."""
    time: datetime | None = None
    """When it happened (or was received, when it does not say)."""
    data_content_type: str = ""
    """The media type of `data`, such as `application/json`."""
    data: bytes = b""
    """The payload, exactly as received."""
    extensions: dict[str, str] = field(default_factory=dict)
    """CloudEvents extension attributes."""
    accepted: datetime | None = None
    """When the scheduler accepted (stored) it."""

    @classmethod
    def of_json(
        cls, id: str, source: str, type: str, data: Any, **attributes: Any
    ) -> ExternalEvent:
        """An event with a JSON payload, for tests."""
        return cls(
            id=id,
            source=source,
            type=type,
            data=json.dumps(data).encode(),
            data_content_type="application/json",
            **attributes,
        )

    def json(self) -> Any:
        """The payload parsed as JSON; raises `WorkerError.invalid` when it is not JSON."""
        try:
            return json.loads(self.data)
        except ValueError as err:
            raise WorkerError.invalid(f"event {self.id!r} data is not JSON: {err}") from err

    def data_as(self, model: builtins.type[Model]) -> Model:
        """The payload validated into `model` (generated from the source's `schema`)."""
        try:
            return model.model_validate_json(self.data)
        except ValidationError as err:
            raise WorkerError.invalid(f"event {self.id!r} data does not match: {err}") from err
