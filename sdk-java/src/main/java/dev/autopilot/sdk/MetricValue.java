package dev.autopilot.sdk;

import java.util.OptionalDouble;

/**
 * A metric reduced to one value: a number, explicit "no data", or NaN. Zero and "no data" are
 * different things: a query that matched nothing is not a rate of zero.
 */
public sealed interface MetricValue {
  /** A number (never NaN). */
  record Value(double value) implements MetricValue {}

  /** The query succeeded but returned no samples. */
  record NoData() implements MetricValue {}

  /** The value is NaN (for example a ratio of two zero rates). */
  record NaN() implements MetricValue {}

  /** True when the query returned no samples. */
  default boolean isNoData() {
    return this instanceof NoData;
  }

  /** True when the value is NaN. */
  default boolean isNaN() {
    return this instanceof NaN;
  }

  /** The number, or empty for no data and NaN. */
  default OptionalDouble asDouble() {
    return this instanceof Value v ? OptionalDouble.of(v.value()) : OptionalDouble.empty();
  }
}
