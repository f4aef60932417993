package dev.autopilot.sdk;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusException;
import java.time.Duration;
import java.util.Optional;

/**
 * Why a handler failed, and so which gRPC code the scheduler sees.
 *
 * <ul>
 *   <li>{@link #retryable} → UNAVAILABLE: the scheduler retries with backoff, no sooner than the
 *       optional retry-after (sent as the {@code autopilot-retry-after-ms} trailer).
 *   <li>{@link #permanent} → FAILED_PRECONDITION: recorded as a WorkerError condition.
 *   <li>{@link #invalid} → INVALID_ARGUMENT: the inputs or the resource are wrong; permanent.
 * </ul>
 */
public final class WorkerException extends Exception {
  private static final long serialVersionUID = 1L;

  /** The trailer that asks the scheduler for a minimum delay before retrying. */
  public static final Metadata.Key<String> RETRY_AFTER =
      Metadata.Key.of("autopilot-retry-after-ms", Metadata.ASCII_STRING_MARSHALLER);

  /** What kind of failure, which decides the gRPC code. */
  public enum Kind {
    /** Worth retrying: UNAVAILABLE. */
    RETRYABLE,
    /** Retrying will not help until something changes: FAILED_PRECONDITION. */
    PERMANENT,
    /** The request is wrong: INVALID_ARGUMENT. */
    INVALID
  }

  private final Kind kind;
  private final transient Duration retryAfter;

  private WorkerException(Kind kind, String message, Duration retryAfter, Throwable cause) {
    super(message, cause);
    this.kind = kind;
    this.retryAfter = retryAfter;
  }

  /** A failure worth retrying (a dependency is down, a rollout is still in progress). */
  public static WorkerException retryable(String message) {
    return new WorkerException(Kind.RETRYABLE, message, null, null);
  }

  /** A failure worth retrying, but not before {@code retryAfter}. */
  public static WorkerException retryable(String message, Duration retryAfter) {
    return new WorkerException(Kind.RETRYABLE, message, retryAfter, null);
  }

  /** A failure that retrying will not fix until the resource or the cluster changes. */
  public static WorkerException permanent(String message) {
    return new WorkerException(Kind.PERMANENT, message, null, null);
  }

  /** The resource or an input is invalid (a spec that does not parse, a missing input). */
  public static WorkerException invalid(String message) {
    return new WorkerException(Kind.INVALID, message, null, null);
  }

  /** The same failure with its cause kept. */
  public WorkerException withCause(Throwable cause) {
    return new WorkerException(kind, getMessage(), retryAfter, cause);
  }

  /** The kind of failure. */
  public Kind kind() {
    return kind;
  }

  /** The minimum delay before a retry, when one was asked for. */
  public Optional<Duration> retryAfter() {
    return Optional.ofNullable(retryAfter);
  }

  /** The gRPC code of this failure. */
  public Status.Code code() {
    return switch (kind) {
      case RETRYABLE -> Status.Code.UNAVAILABLE;
      case PERMANENT -> Status.Code.FAILED_PRECONDITION;
      case INVALID -> Status.Code.INVALID_ARGUMENT;
    };
  }

  /** The gRPC status the server answers with, trailer included. */
  public StatusException toStatusException() {
    Metadata trailers = new Metadata();
    if (retryAfter != null) {
      trailers.put(RETRY_AFTER, Long.toString(retryAfter.toMillis()));
    }
    return Status.fromCode(code()).withDescription(getMessage()).asException(trailers);
  }
}
