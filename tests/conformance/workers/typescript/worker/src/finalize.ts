/** Finalize: not yet on the first call for a resource, done on every later one (SCENARIO.md). */

import { Context, Finalized } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "./model";

/** Finalize calls so far, by namespace/name; in memory, as the scenario asks. */
const calls = new Map<string, number>();

export async function finalize(ctx: Context<Spec, StatusInfo>): Promise<Finalized> {
  const key = `${ctx.namespace ?? ""}/${ctx.name}`;
  const n = (calls.get(key) ?? 0) + 1;
  calls.set(key, n);
  return n === 1 ? Finalized.notYet().requeueAfter(200) : Finalized.done();
}
