/** Context: everything a handler is given for one call, built from the request or by a test. */

import { Condition } from "./condition";
import { WorkerError } from "./errors";
import { EventInput, ExternalEvent } from "./external";
import { Metric } from "./metric";
import { Trace } from "./trace";

/** A Kubernetes object as JSON. */
export type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
};

/** The parts of metadata the SDK reads. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** One object input: the objects, or why the scheduler could not gather them. */
export type ObjectInput = KubeObject[] | { error: string };

/** What a test (or the SDK) gives to build a {@link Context}; everything but `phase` is optional. */
export interface ContextInit<S, I> {
  phase: string;
  /** The whole custom resource; defaults to a minimal `default/test` object. */
  resource?: KubeObject;
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  /** Overrides `resource.spec`. */
  spec?: S;
  /** Overrides `resource.status.statusInfo`. */
  statusInfo?: I;
  conditions?: Condition[];
  /** Object inputs by their name in autopilot.yaml. */
  objects?: Record<string, ObjectInput>;
  /** Query results by query name. */
  metrics?: Record<string, Metric>;
  /** Trace query results by trace query name. */
  traces?: Record<string, Trace>;
  /** Pending external events by event source name. */
  events?: Record<string, EventInput>;
  attempt?: number;
  tag?: string;
  deadline?: Date;
  generation?: number;
  operatorName?: string;
  traceparent?: string;
}

/**
 * What a phase handler is given: the custom resource with its spec and statusInfo typed as
 * `S` and `I`, the phase's inputs, and facts about the call.
 *
 * A test builds one directly: `new Context<Spec, StatusInfo>({ phase: "Processing", spec: {...} })`.
 */
export class Context<S = Record<string, unknown>, I = Record<string, unknown>> {
  /** The phase being run. */
  readonly phase: string;
  /** The whole custom resource (apiVersion, kind, metadata, spec, status) as parsed JSON. */
  readonly resource: KubeObject;
  /** The resource's spec. */
  readonly spec: S;
  /** The statusInfo the worker returned last time; undefined before the first one. */
  readonly statusInfo: I | undefined;
  /** The resource's current status.conditions. */
  readonly conditions: readonly Condition[];
  /** 1 for the first call of this phase for this object, incremented on every retry or re-run. */
  readonly attempt: number;
  /** A hash of the spec and every input: equal tags mean equal inputs. */
  readonly tag: string;
  /** When the scheduler stops waiting for this call, if it said. */
  readonly deadline: Date | undefined;
  /** The resource's metadata.generation when the request was built. */
  readonly generation: number;
  /** operatorName in autopilot.yaml. */
  readonly operatorName: string;
  /** The scheduler's W3C traceparent, for workers that export spans of their own. */
  readonly traceparent: string | undefined;
  private readonly inputs: Record<string, ObjectInput>;
  private readonly queries: Record<string, Metric>;
  private readonly traceResults: Record<string, Trace>;
  private readonly externalEvents: Record<string, EventInput>;

  constructor(init: ContextInit<S, I>) {
    const resource: KubeObject = structuredClone(
      init.resource ?? { apiVersion: "example.com/v1", kind: "Test", metadata: { name: "test", namespace: "default", uid: "00000000-0000-0000-0000-000000000000", generation: 1 }, spec: {} },
    );
    const metadata: ObjectMeta = (resource.metadata ??= {});
    if (init.name !== undefined) metadata.name = init.name;
    if (init.namespace !== undefined) metadata.namespace = init.namespace;
    if (init.labels !== undefined) metadata.labels = { ...metadata.labels, ...init.labels };
    if (init.spec !== undefined) resource.spec = init.spec;
    const status = (resource.status ?? {}) as { statusInfo?: unknown; conditions?: Condition[] };
    if (init.statusInfo !== undefined) status.statusInfo = init.statusInfo;
    if (init.conditions !== undefined) status.conditions = init.conditions;
    resource.status = status;

    this.phase = init.phase;
    this.resource = resource;
    this.spec = (resource.spec ?? {}) as S;
    this.statusInfo = (status.statusInfo ?? undefined) as I | undefined;
    this.conditions = status.conditions ?? [];
    this.inputs = init.objects ?? {};
    this.queries = init.metrics ?? {};
    this.traceResults = init.traces ?? {};
    this.externalEvents = init.events ?? {};
    this.attempt = init.attempt ?? 1;
    this.tag = init.tag ?? "";
    this.deadline = init.deadline;
    this.generation = init.generation ?? metadata.generation ?? 0;
    this.operatorName = init.operatorName ?? "";
    this.traceparent = init.traceparent;
  }

  /** metadata.name. */
  get name(): string {
    return this.resource.metadata?.name ?? "";
  }

  /** metadata.namespace, or undefined for a cluster-scoped resource. */
  get namespace(): string | undefined {
    return this.resource.metadata?.namespace || undefined;
  }

  /** metadata.uid, when set. */
  get uid(): string | undefined {
    return this.resource.metadata?.uid || undefined;
  }

  /** metadata.labels. */
  get labels(): Readonly<Record<string, string>> {
    return this.resource.metadata?.labels ?? {};
  }

  /** metadata.annotations. */
  get annotations(): Readonly<Record<string, string>> {
    return this.resource.metadata?.annotations ?? {};
  }

  /** The current condition of this type, if the resource has one. */
  condition(type: string): Condition | undefined {
    return this.conditions.find((c) => c.type === type);
  }

  /**
   * The objects of the input named `key` in autopilot.yaml, typed as `T` (not validated).
   *
   * @throws {WorkerError} `missingInput` when the phase has no input of that name;
   *   `inputUnavailable` (retryable) when the scheduler could not gather it.
   */
  objects<T = KubeObject>(key: string): T[] {
    const input = this.inputs[key];
    if (input === undefined) {
      throw new WorkerError(
        "missingInput",
        `the request has no input named ${JSON.stringify(key)}; is it declared for phase ${JSON.stringify(this.phase)}?`,
      );
    }
    if (!Array.isArray(input)) {
      throw new WorkerError("inputUnavailable", `input ${JSON.stringify(key)} could not be gathered: ${input.error}`);
    }
    return input as T[];
  }

  /**
   * The result of the query named `key`.
   *
   * @throws {WorkerError} `missingInput` when the phase does not read that query.
   */
  metric(key: string): Metric {
    const metric = this.queries[key];
    if (metric === undefined) {
      throw new WorkerError(
        "missingInput",
        `the request has no metric named ${JSON.stringify(key)}; is it among the inputs of phase ${JSON.stringify(this.phase)}?`,
      );
    }
    return metric;
  }

  /**
   * The result of the trace query named `key`.
   *
   * @throws {WorkerError} `missingInput` when the phase does not read that trace query.
   */
  trace(key: string): Trace {
    const trace = this.traceResults[key];
    if (trace === undefined) {
      throw new WorkerError(
        "missingInput",
        `the request has no trace query named ${JSON.stringify(key)}; is it among the inputs of phase ${JSON.stringify(this.phase)}?`,
      );
    }
    return trace;
  }

  /**
   * The pending events of the event source named `key` in autopilot.yaml, oldest first.
   *
   * @throws {WorkerError} `missingInput` when the phase does not list that source among its
   *   inputs; `inputUnavailable` (retryable) when the scheduler could not read the events.
   */
  events(key: string): readonly ExternalEvent[] {
    const input = this.externalEvents[key];
    if (input === undefined) {
      throw new WorkerError(
        "missingInput",
        `the request has no event source named ${JSON.stringify(key)}; is it among the inputs of phase ${JSON.stringify(this.phase)}?`,
      );
    }
    if (!Array.isArray(input)) {
      throw new WorkerError("inputUnavailable", `events of ${JSON.stringify(key)} could not be read: ${input.error}`);
    }
    return input;
  }
}
