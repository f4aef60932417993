package dev.autopilot.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What a phase handler decided: the next phase (or stay), objects to apply, the new statusInfo,
 * conditions, Events and when to run again.
 *
 * <pre>{@code
 * return Outcome.<StatusInfo>next("Promoting")
 *     .output(Outputs.configMap("web-canary").data("weight", "20"))
 *     .statusInfo(new StatusInfo(20))
 *     .eventNormal("WeightIncreased", "canary at 20%");
 * }</pre>
 *
 * @param <I> the resource's statusInfo type
 */
public final class Outcome<I> {
  private final String nextPhase;
  private final List<JsonNode> outputs = new ArrayList<>();
  private I statusInfo;
  private final List<Condition> conditions = new ArrayList<>();
  private final List<Event> events = new ArrayList<>();
  private Duration requeueAfter;

  private Outcome(String nextPhase) {
    this.nextPhase = nextPhase;
  }

  /** Stay in the current phase: the scheduler runs it again later. */
  public static <I> Outcome<I> stay() {
    return new Outcome<>(null);
  }

  /** Move to {@code phase}, which must be declared in autopilot.yaml. */
  public static <I> Outcome<I> next(String phase) {
    if (phase == null || phase.isEmpty()) {
      throw new IllegalArgumentException("the next phase must be named; use Outcome.stay()");
    }
    return new Outcome<>(phase);
  }

  /**
   * Adds an object to apply: an output builder from {@link dev.autopilot.sdk.outputs.Outputs}, a
   * {@link JsonNode}, a map or any Jackson-serializable value with apiVersion, kind and
   * metadata.name.
   */
  public Outcome<I> output(Object object) {
    outputs.add(Json.tree(object));
    return this;
  }

  /** Sets the new {@code .status.statusInfo}; not set keeps the current value. */
  public Outcome<I> statusInfo(I statusInfo) {
    this.statusInfo = statusInfo;
    return this;
  }

  /**
   * Sets a condition on {@code .status.conditions}.
   *
   * @throws IllegalArgumentException for a type the scheduler owns ({@link
   *     Condition#SCHEDULER_CONDITIONS}) or an empty one
   */
  public Outcome<I> condition(String type, boolean status, String reason, String message) {
    return condition(Condition.of(type, status, reason, message));
  }

  /**
   * Sets a condition on {@code .status.conditions}.
   *
   * @throws IllegalArgumentException for a type the scheduler owns ({@link
   *     Condition#SCHEDULER_CONDITIONS}) or an empty one
   */
  public Outcome<I> condition(Condition condition) {
    Condition.refusal(condition.type())
        .ifPresent(
            why -> {
              throw new IllegalArgumentException(why);
            });
    conditions.add(condition);
    return this;
  }

  /** Reports a Normal Event on the resource. */
  public Outcome<I> eventNormal(String reason, String message) {
    events.add(new Event(Event.Severity.NORMAL, reason, message));
    return this;
  }

  /** Reports a Warning Event on the resource. */
  public Outcome<I> eventWarning(String reason, String message) {
    events.add(new Event(Event.Severity.WARNING, reason, message));
    return this;
  }

  /** Runs this phase again after {@code delay} (when staying) instead of the work interval. */
  public Outcome<I> requeueAfter(Duration delay) {
    this.requeueAfter = delay;
    return this;
  }

  /** The phase to move to; empty means stay. */
  public Optional<String> nextPhase() {
    return Optional.ofNullable(nextPhase);
  }

  /** The objects to apply, as JSON. */
  public List<JsonNode> outputs() {
    return List.copyOf(outputs);
  }

  /** The new statusInfo, when set. */
  public Optional<I> statusInfo() {
    return Optional.ofNullable(statusInfo);
  }

  /** The conditions to set. */
  public List<Condition> conditions() {
    return List.copyOf(conditions);
  }

  /** The Events to report. */
  public List<Event> events() {
    return List.copyOf(events);
  }

  /** When to run this phase again, when set. */
  public Optional<Duration> requeue() {
    return Optional.ofNullable(requeueAfter);
  }
}
