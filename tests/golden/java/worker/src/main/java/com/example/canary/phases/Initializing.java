package com.example.canary.phases;

import com.example.canary.model.Spec;
import com.example.canary.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Outcome;
import dev.autopilot.sdk.WorkerException;

/** Initializing: Set up the traffic routing for the target. */
public final class Initializing {
  private Initializing() {}

  /**
   * Handles one resource in the {@code Initializing} phase.
   *
   * <p>It has no inputs.
   *
   * <p>Outputs it may return with {@code Outcome.output}: VirtualService (networking.istio.io/v1).
   *
   * <p>It may move to: Processing.
   *
   * <p>As scaffolded it moves straight on to {@code Processing}; replace the body with the phase's logic.
   */
  public static Outcome<StatusInfo> handle(Context<Spec, StatusInfo> ctx) throws WorkerException {
    return Outcome.next("Processing");
  }
}
