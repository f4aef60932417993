package dev.autopilot.conformance.phases;

import dev.autopilot.conformance.model.Spec;
import dev.autopilot.conformance.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Outcome;
import dev.autopilot.sdk.WorkerException;
import dev.autopilot.sdk.outputs.ConfigMap;
import dev.autopilot.sdk.outputs.Outputs;

/** Preparing: count the probe's ConfigMaps and create its own (SCENARIO.md, "Preparing"). */
public final class Preparing {
  private Preparing() {}

  /** The ConfigMap every phase of a probe returns: {@code <name>-probe}. */
  static ConfigMap probeConfigMap(Context<Spec, StatusInfo> ctx) {
    String target = ctx.spec().target() == null ? "" : ctx.spec().target();
    return Outputs.configMap(ctx.name() + "-probe").label("probe", ctx.name()).data("target", target);
  }

  /** Counts the ConfigMaps labelled for this probe, returns its ConfigMap, moves to Checking. */
  public static Outcome<StatusInfo> handle(Context<Spec, StatusInfo> ctx) throws WorkerException {
    long seen = ctx.objects("configmaps").size();
    String message = "prepared " + ctx.name();
    return Outcome.<StatusInfo>next("Checking")
        .output(probeConfigMap(ctx))
        .statusInfo(new StatusInfo(null, null, seen))
        .condition("Prepared", true, "Created", message)
        .eventNormal("Prepared", message);
  }
}
