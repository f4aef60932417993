package dev.autopilot.conformance.phases;

import dev.autopilot.conformance.model.Spec;
import dev.autopilot.conformance.model.StatusInfo;
import dev.autopilot.sdk.Context;
import dev.autopilot.sdk.Metric;
import dev.autopilot.sdk.MetricValue;
import dev.autopilot.sdk.Outcome;
import dev.autopilot.sdk.WorkerException;
import java.time.Duration;
import java.util.Objects;

/** Checking: fail on request, check the two queries, finish on the second check. */
public final class Checking {
  private Checking() {}

  /** See SCENARIO.md, "Checking", steps 1 to 6. */
  public static Outcome<StatusInfo> handle(Context<Spec, StatusInfo> ctx) throws WorkerException {
    Spec spec = ctx.spec();
    if (Boolean.TRUE.equals(spec.permanent())) {
      throw WorkerException.permanent("permanent failure requested");
    }
    long failFirst = Objects.requireNonNullElse(spec.failFirst(), 0L);
    if (ctx.attempt() <= failFirst) {
      throw WorkerException.retryable("transient failure " + ctx.attempt());
    }
    Metric one = ctx.metric("one");
    MetricValue value = one.value();
    long factor = Objects.requireNonNullElse(spec.factor(), 0L);
    if (value.asDouble().isEmpty() || value.asDouble().getAsDouble() != factor) {
      throw WorkerException.invalid("one is " + value + ", expected " + factor);
    }
    if (!ctx.metric("missing").value().isNoData()) {
      throw WorkerException.invalid("missing has data, expected no data");
    }
    StatusInfo previous = ctx.statusInfo().orElse(new StatusInfo(null, null, null));
    long checks = Objects.requireNonNullElse(previous.checks(), 0L) + 1;
    StatusInfo info = new StatusInfo(checks, one.query(), previous.seen());
    if (checks < 2) {
      return Outcome.<StatusInfo>stay()
          .output(Preparing.probeConfigMap(ctx))
          .statusInfo(info)
          .requeueAfter(Duration.ofMillis(300));
    }
    return Outcome.<StatusInfo>next("Done")
        .output(Preparing.probeConfigMap(ctx))
        .statusInfo(info)
        .eventNormal("Checked", "one=" + formatted(value.asDouble().getAsDouble()) + " missing=no-data");
  }

  /** {@code 3.0} as {@code 3}, as every language's worker prints it. */
  private static String formatted(double value) {
    return value == Math.rint(value) ? Long.toString((long) value) : Double.toString(value);
  }
}
