package dev.autopilot.sdk;

/**
 * An outcome reported as a Kubernetes Event on the resource.
 *
 * @param severity Normal or Warning
 * @param reason CamelCase reason, for example {@code WeightIncreased}
 * @param message human-readable message
 */
public record Event(Severity severity, String reason, String message) {
  /** The Event's type. */
  public enum Severity {
    /** An Event of type Normal. */
    NORMAL,
    /** An Event of type Warning. */
    WARNING
  }
}
