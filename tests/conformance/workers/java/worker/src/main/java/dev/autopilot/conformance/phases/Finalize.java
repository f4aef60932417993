package dev.autopilot.conformance.phases;

import dev.autopilot.conformance.model.Spec;
import dev.autopilot.conformance.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Finalized;
import dev.autopilot.sdk.WorkerException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** Cleanup before a Probe is deleted: not yet on the first call, done on every later one. */
public final class Finalize {
  /** Resources (namespace/name) whose first Finalize call has been answered. */
  private static final Set<String> CALLED = ConcurrentHashMap.newKeySet();

  private Finalize() {}

  /** See SCENARIO.md, "Finalize". */
  public static Finalized handle(Context<Spec, StatusInfo> ctx) throws WorkerException {
    String key = ctx.namespace().orElse("") + "/" + ctx.name();
    if (CALLED.add(key)) {
      return Finalized.notYet().requeueAfter(Duration.ofMillis(200));
    }
    return Finalized.done();
  }
}
