package dev.autopilot.sdk;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** What a {@link FinalizeHandler} answers: cleanup done, or not yet (call again). */
public final class Finalized {
  private final boolean done;
  private final List<Event> events = new ArrayList<>();
  private Duration requeueAfter;

  private Finalized(boolean done) {
    this.done = done;
  }

  /** Cleanup is complete: the scheduler may remove the finalizer. */
  public static Finalized done() {
    return new Finalized(true);
  }

  /** Cleanup is still in progress: the scheduler calls again. */
  public static Finalized notYet() {
    return new Finalized(false);
  }

  /** When not done: call again after {@code delay} instead of the retry backoff. */
  public Finalized requeueAfter(Duration delay) {
    this.requeueAfter = delay;
    return this;
  }

  /** Reports a Normal Event. */
  public Finalized eventNormal(String reason, String message) {
    events.add(new Event(Event.Severity.NORMAL, reason, message));
    return this;
  }

  /** Reports a Warning Event. */
  public Finalized eventWarning(String reason, String message) {
    events.add(new Event(Event.Severity.WARNING, reason, message));
    return this;
  }

  /** Whether cleanup is complete. */
  public boolean isDone() {
    return done;
  }

  /** The Events to report. */
  public List<Event> events() {
    return List.copyOf(events);
  }

  /** The delay before the next call, when set. */
  public Optional<Duration> requeue() {
    return Optional.ofNullable(requeueAfter);
  }
}
