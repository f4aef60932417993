/** Checking: fail as asked, then check the metrics twice (SCENARIO.md, "Checking"). */

import { Context, MetricValue, Outcome, WorkerError } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "../model";
import { probeConfigMap } from "./probe-config-map";

/**
 * Handle one resource in the `Checking` phase.
 *
 * Inputs: `ctx.metric("one")` (`vector(<spec.factor>)`) and `ctx.metric("missing")` (no data).
 */
export async function checking(ctx: Context<Spec, StatusInfo>): Promise<Outcome<StatusInfo>> {
  const spec = ctx.spec;
  if (spec.permanent) {
    throw WorkerError.permanent("permanent failure requested");
  }
  if (ctx.attempt <= (spec.failFirst ?? 0)) {
    throw WorkerError.retryable(`transient failure ${ctx.attempt}`);
  }
  const one = ctx.metric("one");
  const value = one.value();
  const factor = spec.factor ?? 0;
  if (value.kind !== "value" || value.value !== factor) {
    throw WorkerError.invalid(`metric one is ${describe(value)}, want ${factor}`);
  }
  const missing = ctx.metric("missing").value();
  if (missing.kind !== "noData") {
    throw WorkerError.invalid(`metric missing is ${describe(missing)}, want no data`);
  }
  const checks = (ctx.statusInfo?.checks ?? 0) + 1;
  const info: StatusInfo = { seen: ctx.statusInfo?.seen, checks, lastQuery: one.query };
  const outcome =
    checks < 2
      ? Outcome.stay<StatusInfo>().requeueAfter(300)
      : Outcome.next<StatusInfo>("Done").eventNormal("Checked", `one=${value.value} missing=no-data`);
  return outcome.output(probeConfigMap(ctx)).status(info);
}

function describe(value: MetricValue): string {
  switch (value.kind) {
    case "value":
      return String(value.value);
    case "noData":
      return "no data";
    case "nan":
      return "NaN";
  }
}
