/**
 * The TypeScript SDK for Autopilot workers: write one function per phase, the SDK does the gRPC.
 *
 * A handler's whole world is a {@link Context} in and an {@link Outcome} out; {@link Worker}
 * registers the handlers and serves them (`serve`), {@link WorkerError} says how a call failed,
 * and `outputs` builds the objects most mesh workflows apply. Handlers are plain functions: a
 * test builds a Context and calls them, with no gRPC in sight.
 */

export { Condition, ConditionStatus, SCHEDULER_CONDITIONS, condition, conditionRefusal } from "./condition";
export { Context, ContextInit, KubeObject, ObjectInput, ObjectMeta } from "./context";
export { EventInput, ExternalEvent, eventData, jsonEvent } from "./external";
export { RETRY_AFTER_TRAILER, WorkerError, WorkerErrorKind, isRetryableCode } from "./errors";
export { Metric, MetricKind, MetricValue, Sample, Series } from "./metric";
export { ErrorSpan, SpanStats, Trace, TraceSample, spanStats } from "./trace";
export { Event, Finalized, ObjectBuilder, Outcome, Severity } from "./outcome";
export { FinalizeHandler, PROTOCOL_VERSION, PhaseHandler, Worker } from "./worker";
export { Config, RunningWorker, Tls, configFromEnv, serve } from "./serve";
export * as outputs from "./outputs";
