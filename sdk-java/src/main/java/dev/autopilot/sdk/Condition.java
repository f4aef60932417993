package dev.autopilot.sdk;

import java.util.List;
import java.util.Optional;

/**
 * A status condition in the shape of metav1.Condition.
 *
 * @param type CamelCase type, for example {@code Healthy}; not one the scheduler owns (see
 *     {@link #SCHEDULER_CONDITIONS})
 * @param status {@code True}, {@code False} or {@code Unknown}
 * @param reason CamelCase reason
 * @param message human-readable message
 */
public record Condition(String type, String status, String reason, String message) {
  /**
   * The condition types the scheduler owns and writes itself. A worker may read them but not set
   * them: {@link Outcome#condition} throws {@link IllegalArgumentException} for one (the call
   * then fails with INTERNAL), before the scheduler would refuse it.
   *
   * <ul>
   *   <li>{@code Ready}: the resource is in a final phase, or its last call succeeded;
   *   <li>{@code Progressing}: the resource is moving through its phases ({@code Blocked},
   *       {@code Retrying}, ...);
   *   <li>{@code WorkerError}: the last worker call, or applying its result, failed;
   *   <li>{@code InputsAvailable}: every resource input of the phase could be read;
   *   <li>{@code MetricsAvailable}: every metric query of the phase succeeded;
   *   <li>{@code Paused}: the resource is held by {@code ap pause};
   *   <li>{@code AwaitingApproval}: a gate of the current phase waits for {@code ap approve};
   *   <li>{@code Aborted}: {@code ap abort} was honoured, or could not be.
   * </ul>
   */
  public static final List<String> SCHEDULER_CONDITIONS =
      List.of(
          "Ready",
          "Progressing",
          "WorkerError",
          "InputsAvailable",
          "MetricsAvailable",
          "Paused",
          "AwaitingApproval",
          "Aborted");

  /** Why a worker may not set a condition of {@code type}, or empty when it may. */
  public static Optional<String> refusal(String type) {
    if (type == null || type.isEmpty()) {
      return Optional.of("a condition needs a type");
    }
    if (SCHEDULER_CONDITIONS.contains(type)) {
      return Optional.of(
          "condition type "
              + type
              + " is owned by the scheduler (it owns "
              + String.join(", ", SCHEDULER_CONDITIONS)
              + "); give the condition a type of the operator's own, such as Healthy or Analyzed");
    }
    return Optional.empty();
  }

  /** A condition whose status is {@code True} or {@code False}. */
  public static Condition of(String type, boolean status, String reason, String message) {
    return new Condition(type, status ? "True" : "False", reason, message);
  }
}
