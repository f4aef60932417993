package dev.autopilot.sdk;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The typed result of one Prometheus query of the phase, with the query as it was sent.
 *
 * @param query the PromQL after its parameters were filled in
 * @param kind scalar, vector or matrix
 * @param series the series (a scalar is one series without labels and one sample)
 * @param noData true when the query succeeded but returned no samples
 * @param error why the query could not be run, or null
 */
public record Metric(String query, Kind kind, List<Series> series, boolean noData, String error) {
  /** The result type Prometheus returned. */
  public enum Kind {
    /** Not known. */
    UNSPECIFIED,
    /** One value. */
    SCALAR,
    /** One sample per series. */
    VECTOR,
    /** A range of samples per series. */
    MATRIX
  }

  /**
   * One time series.
   *
   * @param labels the series' labels (empty for a scalar)
   * @param samples the samples, oldest first
   */
  public record Series(Map<String, String> labels, List<Sample> samples) {
    /** A series with these labels and no samples yet. */
    public static Series of(Map<String, String> labels) {
      return new Series(Map.copyOf(labels), List.of());
    }

    /** This series with one more sample. */
    public Series sample(long timestampMs, double value) {
      var more = new java.util.ArrayList<>(samples);
      more.add(new Sample(timestampMs, value));
      return new Series(labels, List.copyOf(more));
    }
  }

  /**
   * One sample.
   *
   * @param timestampMs milliseconds since the Unix epoch
   * @param value the value, NaN included
   */
  public record Sample(long timestampMs, double value) {}

  /** A scalar result. */
  public static Metric scalar(double value) {
    return new Metric("", Kind.SCALAR, List.of(Series.of(Map.of()).sample(0, value)), false, null);
  }

  /** A scalar NaN result. */
  public static Metric nan() {
    return scalar(Double.NaN);
  }

  /** A result without samples: "no data", which is not zero. */
  public static Metric empty() {
    return new Metric("", Kind.VECTOR, List.of(), true, null);
  }

  /** A vector result. */
  public static Metric vector(List<Series> series) {
    return new Metric("", Kind.VECTOR, List.copyOf(series), series.isEmpty(), null);
  }

  /** A matrix result. */
  public static Metric matrix(List<Series> series) {
    return new Metric("", Kind.MATRIX, List.copyOf(series), series.isEmpty(), null);
  }

  /** A query that could not be run. */
  public static Metric failed(String error) {
    return new Metric("", Kind.UNSPECIFIED, List.of(), false, error);
  }

  /** This result with the query that produced it. */
  public Metric withQuery(String query) {
    return new Metric(query, kind, series, noData, error);
  }

  /** Why the query failed, when it did. */
  public Optional<String> failure() {
    return Optional.ofNullable(error).filter(e -> !e.isEmpty());
  }

  /**
   * The result as one value: the latest sample of its only series, "no data", or NaN.
   *
   * <p>A query that could not be run (Prometheus down) is a retryable error, which the scheduler
   * retries with backoff without limit unless {@code autopilot-operator.yaml} sets {@code
   * retry.maxAttempts}: a phase that guards a canary or an injected fault should catch it and act
   * (for example roll back once {@code ctx.attempt()} is high) rather than rethrow it.
   *
   * @throws WorkerException retryable when the query failed; invalid when it returned several
   *     series
   */
  public MetricValue value() throws WorkerException {
    if (failure().isPresent()) {
      throw WorkerException.retryable("query " + query + " failed: " + error);
    }
    if (noData || series.isEmpty()) {
      return new MetricValue.NoData();
    }
    if (series.size() > 1) {
      throw WorkerException.invalid(
          "query " + query + " returned " + series.size() + " series, expected one");
    }
    List<Sample> samples = series.get(0).samples();
    if (samples.isEmpty()) {
      return new MetricValue.NoData();
    }
    double value = samples.get(samples.size() - 1).value();
    return Double.isNaN(value) ? new MetricValue.NaN() : new MetricValue.Value(value);
  }
}
