/** Processing: Shift traffic step by step while the success rate holds. */

import { Context, Outcome } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "../model";

/**
 * Handle one resource in the `Processing` phase.
 *
 * Inputs:
 * - `ctx.objects("virtualservices")`: the VirtualService (networking.istio.io/v1) objects.
 * - `ctx.metric("success-rate").value()`: the query's result (value, noData or nan).
 *
 * Outputs it may return with `Outcome.output`: VirtualService (networking.istio.io/v1).
 *
 * It may move to: Finished.
 *
 * As scaffolded it moves straight on to `Finished`; replace the body with the phase's logic.
 */
export async function processing(_ctx: Context<Spec, StatusInfo>): Promise<Outcome<StatusInfo>> {
  return Outcome.next<StatusInfo>("Finished");
}
