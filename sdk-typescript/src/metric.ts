/** Metric: the typed result of one PromQL query, with "no data" and NaN explicit. */

import { WorkerError } from "./errors";

/** The result type Prometheus returned. */
export type MetricKind = "scalar" | "vector" | "matrix" | "unspecified";

/** One sample. `value` is NaN exactly when `isNaN` is true. */
export interface Sample {
  /** Milliseconds since the Unix epoch. */
  timestampMs: number;
  value: number;
  isNaN: boolean;
}

/** One time series. */
export interface Series {
  /** The series' labels (empty for a scalar). */
  labels: Record<string, string>;
  /** The samples, oldest first. */
  samples: Sample[];
}

/** What a single-valued query returned: a number, nothing at all, or NaN. */
export type MetricValue = { kind: "value"; value: number } | { kind: "noData" } | { kind: "nan" };

/**
 * The result of one query of the phase.
 *
 * ```ts
 * const rate = ctx.metric("success-rate").value();
 * if (rate.kind === "value" && rate.value < 0.99) return Outcome.next("RollingBack");
 * ```
 */
export class Metric {
  constructor(
    /** The PromQL exactly as sent to Prometheus, after parameters were filled in. */
    readonly query: string,
    readonly kind: MetricKind,
    readonly series: readonly Series[],
    /** True when the query succeeded but returned no samples at all. */
    readonly noData: boolean,
    /** Set when the query could not be run (Prometheus unreachable, bad PromQL). */
    readonly error: string | undefined,
  ) {}

  /** A scalar result holding `value` (NaN allowed), for tests. */
  static scalar(value: number, query = ""): Metric {
    const sample = { timestampMs: 0, value, isNaN: Number.isNaN(value) };
    return new Metric(query, "scalar", [{ labels: {}, samples: [sample] }], false, undefined);
  }

  /** A vector result, for tests. */
  static vector(series: Series[], query = ""): Metric {
    return new Metric(query, "vector", series, series.length === 0, undefined);
  }

  /** A successful query that returned nothing, for tests. */
  static noData(query = ""): Metric {
    return new Metric(query, "vector", [], true, undefined);
  }

  /** A query that could not be run, for tests. */
  static failed(error: string, query = ""): Metric {
    return new Metric(query, "unspecified", [], false, error);
  }

  /**
   * The single value of a scalar, or of a vector/matrix with one series (its latest sample).
   *
   * @throws {WorkerError} retryable when the query failed; invalid when it returned several series.
   * The scheduler retries a retryable error with backoff, without limit unless
   * autopilot-operator.yaml sets retry.maxAttempts: a phase that guards a canary or an injected
   * fault should catch a failed query and act (for example roll back once `ctx.attempt` is high).
   */
  value(): MetricValue {
    if (this.error !== undefined) {
      throw WorkerError.retryable(`metric query ${JSON.stringify(this.query)} failed: ${this.error}`);
    }
    if (this.noData || this.series.length === 0) {
      return { kind: "noData" };
    }
    if (this.series.length > 1) {
      throw WorkerError.invalid(
        `metric query ${JSON.stringify(this.query)} returned ${this.series.length} series where one value was expected; aggregate it (for example with sum) or read Metric.series`,
      );
    }
    const samples = this.series[0].samples;
    const last = samples[samples.length - 1];
    if (last === undefined) {
      return { kind: "noData" };
    }
    if (last.isNaN || Number.isNaN(last.value)) {
      return { kind: "nan" };
    }
    return { kind: "value", value: last.value };
  }

  /** The single value as a number, or undefined for no data and NaN. */
  number(): number | undefined {
    const v = this.value();
    return v.kind === "value" ? v.value : undefined;
  }
}
