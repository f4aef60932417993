/** The ConfigMap both phases return: `<name>-probe`, labelled `probe: <name>`. */

import { Context, outputs } from "@autopilot/sdk";

import type { Spec, StatusInfo } from "../model";

export function probeConfigMap(ctx: Context<Spec, StatusInfo>): outputs.ConfigMap {
  return outputs
    .configMap(`${ctx.name}-probe`)
    .label("probe", ctx.name)
    .data("target", ctx.spec.target ?? "");
}
