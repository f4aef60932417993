"""Initializing: Set up the traffic routing for the target."""

from autopilot_sdk import Context, Outcome

from canary_worker.model import Spec, StatusInfo


def handle(ctx: Context[Spec, StatusInfo]) -> Outcome:
    """Handle one resource in the `Initializing` phase.

    It has no inputs.

    Outputs it may return with `Outcome.output`: VirtualService (networking.istio.io/v1).

    It may move to: Processing.

    As scaffolded it moves straight on to `Processing`; replace the body with the phase's logic.
    """
    return Outcome.next("Processing")
