"""Preparing: count the probe's ConfigMaps and create its own (../../SCENARIO.md)."""

from autopilot_sdk import Context, Outcome, outputs

from probe_worker.model import Spec, StatusInfo


def probe_config_map(ctx: Context[Spec, StatusInfo]) -> outputs.ConfigMap:
    """The ConfigMap `<name>-probe` both phases return."""
    return (
        outputs.config_map(f"{ctx.name}-probe")
        .label("probe", ctx.name)
        .data("target", ctx.spec.target or "")
    )


def handle(ctx: Context[Spec, StatusInfo]) -> Outcome:
    """Record how many ConfigMaps carry `probe=<name>`, output the probe's ConfigMap, move on."""
    seen = len(ctx.objects("configmaps"))
    message = f"prepared {ctx.name}"
    return (
        Outcome.next("Checking")
        .output(probe_config_map(ctx))
        .status(StatusInfo(seen=seen))
        .condition("Prepared", True, "Created", message)
        .event_normal("Prepared", message)
    )
