package dev.autopilot.sdk;

/**
 * A status condition in the shape of metav1.Condition.
 *
 * @param type CamelCase type, for example {@code Healthy}
 * @param status {@code True}, {@code False} or {@code Unknown}
 * @param reason CamelCase reason
 * @param message human-readable message
 */
public record Condition(String type, String status, String reason, String message) {
  /** A condition whose status is {@code True} or {@code False}. */
  public static Condition of(String type, boolean status, String reason, String message) {
    return new Condition(type, status ? "True" : "False", reason, message);
  }
}
