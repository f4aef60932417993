package dev.autopilot.sdk;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The typed result of one trace query (a Jaeger search) of the phase: statistics of the matching
 * spans, per operation, and a few sample traces.
 *
 * @param query the search as the scheduler ran it (service, operation, tags, window, limit)
 * @param noData true when the search succeeded but no span matched (not the same as no errors)
 * @param error why the search could not be run, or null
 * @param total statistics over every matching span
 * @param operations statistics per operation (span name), by name
 * @param samples traces holding matching spans: those with failed spans first, then the slowest
 */
public record Trace(
    String query,
    boolean noData,
    String error,
    SpanStats total,
    List<SpanStats> operations,
    List<Sample> samples) {

  /**
   * Span count, errors and latency percentiles (milliseconds) of a set of spans.
   *
   * @param service the spans' service
   * @param operation the span name; empty in a total over several operations
   * @param spanCount spans counted
   * @param errorCount spans whose status is Error
   * @param errorRatio errorCount / spanCount, 0 without spans
   * @param p50Ms median duration
   * @param p90Ms 90th percentile duration
   * @param p99Ms 99th percentile duration
   */
  public record SpanStats(
      String service,
      String operation,
      long spanCount,
      long errorCount,
      double errorRatio,
      double p50Ms,
      double p90Ms,
      double p99Ms) {
    /** Statistics with the ratio computed from the counts, for tests. */
    public static SpanStats of(
        String service, String operation, long spans, long errors, double p50, double p90, double p99) {
      return new SpanStats(
          service, operation, spans, errors, spans == 0 ? 0 : (double) errors / spans, p50, p90, p99);
    }
  }

  /**
   * A summary of one trace holding matching spans.
   *
   * @param traceId hex trace id
   * @param rootService service of the root span
   * @param rootOperation operation of the root span
   * @param durationMs from the first span's start to the last span's end
   * @param startUnixMs start of the trace, milliseconds since the Unix epoch
   * @param errorSpans the trace's failed spans, of any service, earliest first
   */
  public record Sample(
      String traceId,
      String rootService,
      String rootOperation,
      double durationMs,
      long startUnixMs,
      List<ErrorSpan> errorSpans) {}

  /**
   * A failed span of a sample trace.
   *
   * @param service its service
   * @param operation its operation
   * @param statusMessage its status message, possibly empty
   */
  public record ErrorSpan(String service, String operation, String statusMessage) {}

  /** A result with these operations; the total adds their counts up, for tests. */
  public static Trace fromOperations(List<SpanStats> operations) {
    List<SpanStats> ops = new ArrayList<>(operations);
    ops.sort(Comparator.comparing(SpanStats::operation));
    long spans = ops.stream().mapToLong(SpanStats::spanCount).sum();
    long errors = ops.stream().mapToLong(SpanStats::errorCount).sum();
    SpanStats total =
        SpanStats.of(
            "",
            "",
            spans,
            errors,
            ops.stream().mapToDouble(SpanStats::p50Ms).max().orElse(0),
            ops.stream().mapToDouble(SpanStats::p90Ms).max().orElse(0),
            ops.stream().mapToDouble(SpanStats::p99Ms).max().orElse(0));
    return new Trace("", spans == 0, null, total, List.copyOf(ops), List.of());
  }

  /** A search that found no matching span, for tests. */
  public static Trace empty() {
    return new Trace("", true, null, SpanStats.of("", "", 0, 0, 0, 0, 0), List.of(), List.of());
  }

  /** A search that could not be run, for tests. */
  public static Trace failed(String error) {
    return new Trace("", false, error, SpanStats.of("", "", 0, 0, 0, 0, 0), List.of(), List.of());
  }

  /**
   * The statistics of every matching span; empty when no span matched.
   *
   * @throws WorkerException retryable when the search failed
   */
  public Optional<SpanStats> stats() throws WorkerException {
    if (error != null) {
      throw WorkerException.retryable("trace query \"" + query + "\" failed: " + error);
    }
    return noData || total.spanCount() == 0 ? Optional.empty() : Optional.of(total);
  }

  /** The statistics of operation {@code name}, when it had matching spans. */
  public Optional<SpanStats> operation(String name) {
    return operations.stream().filter(o -> o.operation().equals(name)).findFirst();
  }

  /** The operation with the highest error ratio (ties: most errors), when any span failed. */
  public Optional<SpanStats> worstOperation() {
    return operations.stream()
        .filter(o -> o.errorCount() > 0)
        .max(
            Comparator.comparingDouble(SpanStats::errorRatio)
                .thenComparingLong(SpanStats::errorCount));
  }
}
