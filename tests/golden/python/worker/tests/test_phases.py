"""Phase handlers called as plain functions: no gRPC, no cluster."""

from autopilot_sdk import Context

from canary_worker.model import Spec, StatusInfo
from canary_worker.phases import initializing


def test_initializing_moves_on() -> None:
    spec = Spec.model_validate({"stepWeight": 10, "successThreshold": 0.99, "target": "example"})
    ctx: Context[Spec, StatusInfo] = Context.for_test(spec, StatusInfo, phase="Initializing")
    outcome = initializing.handle(ctx)
    assert outcome.next_phase == "Processing"
