"""Processing: Shift traffic step by step while the success rate holds."""

from autopilot_sdk import Context, Outcome

from canary_worker.model import Spec, StatusInfo


def handle(ctx: Context[Spec, StatusInfo]) -> Outcome:
    """Handle one resource in the `Processing` phase.

    Inputs:

    - `ctx.objects("virtualservices")`: the VirtualService (networking.istio.io/v1) objects, as
      dicts.
    - `ctx.metric("success-rate")`: the result of the query `success-rate`.

    Outputs it may return with `Outcome.output`: VirtualService (networking.istio.io/v1).

    It may move to: Finished.

    As scaffolded it moves straight on to `Finished`; replace the body with the phase's logic.
    """
    return Outcome.next("Finished")
