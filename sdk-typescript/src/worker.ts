/** Worker: the registry of phase handlers, and the translation between requests and handlers. */

import { Condition, ConditionStatus } from "./condition";
import { Context, KubeObject, ObjectInput } from "./context";
import { WorkerError } from "./errors";
import { EventInput, fromWire } from "./external";
import { Metric, MetricKind } from "./metric";
import { SpanStats, Trace } from "./trace";
import { Event, Finalized, Outcome } from "./outcome";
import * as wire from "./wire";

/** A phase handler: one call of one phase for one resource. */
export type PhaseHandler<S, I> = (ctx: Context<S, I>) => Outcome<I> | Promise<Outcome<I>>;

/** A finalize handler: cleanup before the resource is deleted. */
export type FinalizeHandler<S, I> = (ctx: Context<S, I>) => Finalized | Promise<Finalized>;

/** The contract version this SDK speaks. */
export const PROTOCOL_VERSION = "v1";

/**
 * A worker: its name, version and one handler per phase it serves, plus an optional finalize
 * handler. Serve it with {@link Worker.serveFromEnv} (see `serve`).
 *
 * ```ts
 * await new Worker<Spec, StatusInfo>("canary-worker")
 *   .phase("Initializing", initializing)
 *   .phase("Processing", processing)
 *   .serveFromEnv();
 * ```
 */
export class Worker<S = Record<string, unknown>, I = Record<string, unknown>> {
  private readonly handlers = new Map<string, PhaseHandler<S, I>>();
  private finalizer: FinalizeHandler<S, I> | undefined;
  private _version = "0.0.0";

  constructor(readonly name: string) {}

  /** The worker's own version, reported by Describe. */
  version(version: string): this {
    this._version = version;
    return this;
  }

  /** Serve `phase` (named exactly as in autopilot.yaml) with `handler`. */
  phase(phase: string, handler: PhaseHandler<S, I>): this {
    this.handlers.set(phase, handler);
    return this;
  }

  /** Implement Finalize with `handler`. */
  finalize(handler: FinalizeHandler<S, I>): this {
    this.finalizer = handler;
    return this;
  }

  /** The phases served, in registration order. */
  get phases(): string[] {
    return [...this.handlers.keys()];
  }

  /** The Describe answer. */
  describe(): wire.DescribeResponse {
    return {
      protocolVersion: PROTOCOL_VERSION,
      workerName: this.name,
      workerVersion: this._version,
      phases: this.phases,
      finalize: this.finalizer !== undefined,
      capabilities: ["traceparent"],
    };
  }

  /**
   * Run one Sync request.
   *
   * @throws {WorkerError} whatever the handler throws, or `invalid` for an unknown phase or a
   *   resource that is not JSON.
   */
  async sync(request: wire.SyncRequest, traceparent?: string): Promise<wire.SyncResponse> {
    const handler = this.handlers.get(request.phase);
    if (handler === undefined) {
      throw WorkerError.invalid(
        `worker ${JSON.stringify(this.name)} does not serve phase ${JSON.stringify(request.phase)} (it serves: ${this.phases.join(", ")})`,
      );
    }
    const objects: Record<string, ObjectInput> = {};
    for (const [key, list] of Object.entries(request.objects ?? {})) {
      objects[key] = list.error
        ? { error: list.error }
        : list.items.map((item, i) => parseJson(item, `objects[${JSON.stringify(key)}][${i}]`) as KubeObject);
    }
    const metrics: Record<string, Metric> = {};
    for (const [key, result] of Object.entries(request.metrics ?? {})) {
      metrics[key] = toMetric(result);
    }
    const traces: Record<string, Trace> = {};
    for (const [key, result] of Object.entries(request.traces ?? {})) {
      traces[key] = toTrace(result);
    }
    const events: Record<string, EventInput> = {};
    for (const [key, list] of Object.entries(request.events ?? {})) {
      events[key] = list.error ? { error: list.error } : list.items.map(fromWire);
    }
    const ctx = new Context<S, I>({
      phase: request.phase,
      resource: parseJson(request.resource, "resource") as KubeObject,
      objects,
      metrics,
      traces,
      events,
      ...metaInit(request.meta),
      traceparent,
    });
    const outcome = await handler(ctx);
    return {
      nextPhase: outcome.nextPhase ?? "",
      outputs: outcome.outputs.map((o) => Buffer.from(JSON.stringify(o))),
      statusInfo: outcome.statusInfo === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(outcome.statusInfo)),
      conditions: outcome.conditions.map(toWireCondition),
      events: outcome.events.map(toWireEvent),
      requeueAfterMs: Math.max(0, Math.round(outcome.requeueAfterMs ?? 0)),
    };
  }

  /**
   * Run one Finalize request; a worker without a finalize handler answers done.
   *
   * @throws {WorkerError} whatever the handler throws.
   */
  async runFinalize(request: wire.FinalizeRequest, traceparent?: string): Promise<wire.FinalizeResponse> {
    if (this.finalizer === undefined) {
      return { done: true, events: [], requeueAfterMs: 0 };
    }
    const ctx = new Context<S, I>({
      phase: "",
      resource: parseJson(request.resource, "resource") as KubeObject,
      ...metaInit(request.meta),
      traceparent,
    });
    const finalized = await this.finalizer(ctx);
    return {
      done: finalized.isDone,
      events: finalized.events.map(toWireEvent),
      requeueAfterMs: Math.max(0, Math.round(finalized.requeueAfterMs ?? 0)),
    };
  }

  /** Serve on the address in the environment until SIGTERM or SIGINT (see `serve`). */
  async serveFromEnv(): Promise<void> {
    // Loaded lazily so that handlers and their tests never load gRPC.
    const { serve, configFromEnv } = await import("./serve");
    const server = await serve(this, configFromEnv(process.env));
    await server.closed;
  }
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  const text = Buffer.from(bytes).toString("utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new WorkerError("decode", `${what}: not JSON: ${(err as Error).message}`);
  }
}

function metaInit(meta: wire.RequestMeta | null): {
  attempt: number;
  tag: string;
  deadline?: Date;
  generation?: number;
  operatorName: string;
} {
  const deadline = Number(meta?.deadlineUnixMs ?? 0);
  const generation = Number(meta?.generation ?? 0);
  return {
    attempt: meta?.attempt || 1,
    tag: meta?.tag ?? "",
    ...(deadline > 0 ? { deadline: new Date(deadline) } : {}),
    ...(generation > 0 ? { generation } : {}),
    operatorName: meta?.operatorName ?? "",
  };
}

const KINDS: Record<wire.ResultType, MetricKind> = {
  RESULT_TYPE_UNSPECIFIED: "unspecified",
  RESULT_TYPE_SCALAR: "scalar",
  RESULT_TYPE_VECTOR: "vector",
  RESULT_TYPE_MATRIX: "matrix",
};

function toMetric(result: wire.MetricResult): Metric {
  const series = result.series.map((s) => ({
    labels: { ...s.labels },
    samples: s.samples.map((sample) => ({
      timestampMs: Number(sample.timestampMs),
      value: sample.isNan ? Number.NaN : sample.value,
      isNaN: sample.isNan || Number.isNaN(sample.value),
    })),
  }));
  return new Metric(result.query, KINDS[result.type] ?? "unspecified", series, result.noData, result.error || undefined);
}

function toStats(s: wire.WireSpanStats | null): SpanStats {
  return {
    service: s?.service ?? "",
    operation: s?.operation ?? "",
    spanCount: Number(s?.spanCount ?? 0),
    errorCount: Number(s?.errorCount ?? 0),
    errorRatio: s?.errorRatio ?? 0,
    p50Ms: s?.p50Ms ?? 0,
    p90Ms: s?.p90Ms ?? 0,
    p99Ms: s?.p99Ms ?? 0,
  };
}

function toTrace(result: wire.TraceResult): Trace {
  const samples = (result.samples ?? []).map((s) => ({
    traceId: s.traceId,
    rootService: s.rootService,
    rootOperation: s.rootOperation,
    durationMs: s.durationMs,
    startUnixMs: Number(s.startUnixMs),
    errorSpans: (s.errorSpans ?? []).map((e) => ({ service: e.service, operation: e.operation, statusMessage: e.statusMessage })),
  }));
  return new Trace(
    result.query,
    result.noData,
    result.error || undefined,
    toStats(result.total),
    (result.operations ?? []).map(toStats),
    samples,
  );
}

function toWireCondition(c: Condition): wire.WireCondition {
  const status: ConditionStatus = c.status;
  return { type: c.type, status, reason: c.reason, message: c.message };
}

function toWireEvent(e: Event): wire.WireEvent {
  return {
    severity: e.severity === "Warning" ? "SEVERITY_WARNING" : "SEVERITY_NORMAL",
    reason: e.reason,
    message: e.message,
  };
}
