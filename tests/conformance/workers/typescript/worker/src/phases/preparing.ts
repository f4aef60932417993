/** Preparing: count the probe's ConfigMaps and create its own (SCENARIO.md, "Preparing"). */

import { Context, Outcome } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "../model";
import { probeConfigMap } from "./probe-config-map";

/**
 * Handle one resource in the `Preparing` phase.
 *
 * Inputs: `ctx.objects("configmaps")`, the ConfigMaps labelled `probe=<name>`.
 */
export async function preparing(ctx: Context<Spec, StatusInfo>): Promise<Outcome<StatusInfo>> {
  const seen = ctx.objects("configmaps").length;
  const message = `prepared ${ctx.name}`;
  return Outcome.next<StatusInfo>("Checking")
    .output(probeConfigMap(ctx))
    .status({ seen })
    .condition("Prepared", true, "Created", message)
    .eventNormal("Prepared", message);
}
