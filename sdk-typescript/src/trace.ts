/** Trace: the typed result of one trace query (a Jaeger search): span statistics per operation and sample traces. */

import { WorkerError } from "./errors";

/** Span count, errors and latency percentiles (milliseconds) of a set of spans. */
export interface SpanStats {
  service: string;
  /** The operation (span name); empty in a total over several operations. */
  operation: string;
  spanCount: number;
  errorCount: number;
  /** errorCount / spanCount, 0 without spans. */
  errorRatio: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

/** A failed span of a sample trace. */
export interface ErrorSpan {
  service: string;
  operation: string;
  statusMessage: string;
}

/** A summary of one trace holding matching spans. */
export interface TraceSample {
  traceId: string;
  rootService: string;
  rootOperation: string;
  durationMs: number;
  startUnixMs: number;
  /** The trace's failed spans, of any service, earliest first. */
  errorSpans: ErrorSpan[];
}

/** Statistics with the error ratio computed from the counts, for tests. */
export function spanStats(
  service: string,
  operation: string,
  spans: number,
  errors = 0,
  latency: { p50Ms?: number; p90Ms?: number; p99Ms?: number } = {},
): SpanStats {
  return {
    service,
    operation,
    spanCount: spans,
    errorCount: errors,
    errorRatio: spans > 0 ? errors / spans : 0,
    p50Ms: latency.p50Ms ?? 0,
    p90Ms: latency.p90Ms ?? 0,
    p99Ms: latency.p99Ms ?? 0,
  };
}

/**
 * What the scheduler found for one trace query declared under `traces:`.
 *
 * ```ts
 * const spans = ctx.trace("canary-spans");
 * const total = spans.stats(); // undefined: no span matched
 * if (total && total.errorRatio > 0.01) return Outcome.next("RollingBack");
 * ```
 */
export class Trace {
  constructor(
    /** The search as the scheduler ran it (service, operation, tags, window, limit). */
    readonly query: string,
    /** True when the search succeeded but no span matched: not the same as no errors. */
    readonly noData: boolean,
    /** Set when the search could not be run (Jaeger unreachable, timed out). */
    readonly error: string | undefined,
    /** Statistics over every matching span. */
    readonly total: SpanStats,
    /** Statistics per operation, by operation name. */
    readonly operations: readonly SpanStats[],
    /** Traces holding matching spans: those with failed spans first, then the slowest. */
    readonly samples: readonly TraceSample[],
  ) {}

  /** A result with these operations; the total adds their counts and takes their highest percentiles, for tests. */
  static fromOperations(operations: SpanStats[], query = ""): Trace {
    const ops = [...operations].sort((a, b) => (a.operation < b.operation ? -1 : a.operation > b.operation ? 1 : 0));
    const sum = (f: (o: SpanStats) => number) => ops.reduce((n, o) => n + f(o), 0);
    const max = (f: (o: SpanStats) => number) => ops.reduce((n, o) => Math.max(n, f(o)), 0);
    const total = spanStats("", "", sum((o) => o.spanCount), sum((o) => o.errorCount), {
      p50Ms: max((o) => o.p50Ms),
      p90Ms: max((o) => o.p90Ms),
      p99Ms: max((o) => o.p99Ms),
    });
    return new Trace(query, total.spanCount === 0, undefined, total, ops, []);
  }

  /** A search that found no matching span, for tests. */
  static noData(query = ""): Trace {
    return new Trace(query, true, undefined, spanStats("", "", 0), [], []);
  }

  /** A search that could not be run, for tests. */
  static failed(error: string, query = ""): Trace {
    return new Trace(query, false, error, spanStats("", "", 0), [], []);
  }

  /**
   * The statistics of every matching span; undefined when no span matched.
   *
   * @throws {WorkerError} `retryable` when the search failed.
   */
  stats(): SpanStats | undefined {
    if (this.error !== undefined) {
      throw new WorkerError("retryable", `trace query ${JSON.stringify(this.query)} failed: ${this.error}`);
    }
    return this.noData || this.total.spanCount === 0 ? undefined : this.total;
  }

  /** The statistics of operation `name`, when it had matching spans. */
  operation(name: string): SpanStats | undefined {
    return this.operations.find((o) => o.operation === name);
  }

  /** The operation with the highest error ratio (ties: most errors), when any span failed. */
  worstOperation(): SpanStats | undefined {
    let worst: SpanStats | undefined;
    for (const o of this.operations) {
      if (o.errorCount === 0) continue;
      if (!worst || o.errorRatio > worst.errorRatio || (o.errorRatio === worst.errorRatio && o.errorCount > worst.errorCount)) {
        worst = o;
      }
    }
    return worst;
  }
}
