/** Initializing: Set up the traffic routing for the target. */

import { Context, Outcome } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "../model";

/**
 * Handle one resource in the `Initializing` phase.
 *
 * It has no inputs.
 *
 * Outputs it may return with `Outcome.output`: VirtualService (networking.istio.io/v1).
 *
 * It may move to: Processing.
 *
 * As scaffolded it moves straight on to `Processing`; replace the body with the phase's logic.
 */
export async function initializing(_ctx: Context<Spec, StatusInfo>): Promise<Outcome<StatusInfo>> {
  return Outcome.next<StatusInfo>("Processing");
}
