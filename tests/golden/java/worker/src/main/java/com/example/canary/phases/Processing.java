package com.example.canary.phases;

import com.example.canary.model.Spec;
import com.example.canary.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Outcome;
import dev.autopilot.sdk.WorkerException;

/** Processing: Shift traffic step by step while the success rate holds. */
public final class Processing {
  private Processing() {}

  /**
   * Handles one resource in the {@code Processing} phase.
   *
   * <p>Inputs:
   *
   * <ul>
   *   <li>{@code ctx.objects("virtualservices")}: the VirtualService (networking.istio.io/v1) objects.
   *   <li>{@code ctx.metric("success-rate")}: the result of the query.
   * </ul>
   *
   * <p>Outputs it may return with {@code Outcome.output}: VirtualService (networking.istio.io/v1).
   *
   * <p>It may move to: Finished.
   *
   * <p>As scaffolded it moves straight on to {@code Finished}; replace the body with the phase's logic.
   */
  public static Outcome<StatusInfo> handle(Context<Spec, StatusInfo> ctx) throws WorkerException {
    return Outcome.next("Finished");
  }
}
