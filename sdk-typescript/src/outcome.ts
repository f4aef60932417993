/** Outcome and Finalized: what a handler answers. */

import { Condition, condition, conditionRefusal } from "./condition";
import { KubeObject } from "./context";
import { WorkerError } from "./errors";

/** "Normal" or "Warning", the type of the Kubernetes Event. */
export type Severity = "Normal" | "Warning";

/** An outcome of a call, reported as a Kubernetes Event on the resource. */
export interface Event {
  severity: Severity;
  /** CamelCase reason. */
  reason: string;
  message: string;
}

/** Something that builds a Kubernetes object, like the builders in `outputs`. */
export interface ObjectBuilder {
  toObject(): KubeObject;
}

/**
 * What a phase handler answers: the next phase (or stay), objects to apply, the new statusInfo,
 * conditions, Events and when to run again.
 *
 * ```ts
 * return Outcome.next("Processing")
 *   .output(outputs.virtualService(ctx.spec.target).route([...]))
 *   .status({ weight: 0 })
 *   .eventNormal("Started", "routing set up");
 * ```
 */
export class Outcome<I = Record<string, unknown>> {
  private readonly _outputs: KubeObject[] = [];
  private readonly _conditions: Condition[] = [];
  private readonly _events: Event[] = [];
  private _statusInfo: I | undefined;
  private _requeueAfterMs: number | undefined;

  private constructor(private readonly _next: string | undefined) {}

  /** Stay in the current phase (run again after requeueAfter or the work interval). */
  static stay<I = Record<string, unknown>>(): Outcome<I> {
    return new Outcome<I>(undefined);
  }

  /** Move to `phase`. */
  static next<I = Record<string, unknown>>(phase: string): Outcome<I> {
    return new Outcome<I>(phase);
  }

  /**
   * Apply this object (a declared output kind of the phase).
   *
   * @throws {WorkerError} `invalidOutput` when it lacks apiVersion, kind or metadata.name.
   */
  output(object: KubeObject | ObjectBuilder): this {
    const json = isBuilder(object) ? object.toObject() : object;
    const missing = !nonEmpty(json?.apiVersion)
      ? "apiVersion"
      : !nonEmpty(json.kind)
        ? "kind"
        : !nonEmpty(json.metadata?.name)
          ? "metadata.name"
          : undefined;
    if (missing !== undefined) {
      throw new WorkerError(
        "invalidOutput",
        `output ${this._outputs.length} is not an applicable Kubernetes object: ${missing} is missing or empty`,
      );
    }
    this._outputs.push(json);
    return this;
  }

  /** Set .status.statusInfo to this value. */
  status(statusInfo: I): this {
    this._statusInfo = statusInfo;
    return this;
  }

  /**
   * Set a condition on the resource: status True when `ok`, else False. Throws a `WorkerError`
   * (`invalidCondition`, sent as INTERNAL) for a type the scheduler owns (SCHEDULER_CONDITIONS:
   * Ready, Progressing, WorkerError, InputsAvailable, MetricsAvailable, Paused, AwaitingApproval,
   * Aborted) or an empty one.
   */
  condition(type: string, ok: boolean, reason: string, message = ""): this {
    const refusal = conditionRefusal(type);
    if (refusal !== undefined) {
      throw new WorkerError("invalidCondition", refusal);
    }
    this._conditions.push(condition(type, ok, reason, message));
    return this;
  }

  /** Report a Normal Event. */
  eventNormal(reason: string, message: string): this {
    this._events.push({ severity: "Normal", reason, message });
    return this;
  }

  /** Report a Warning Event. */
  eventWarning(reason: string, message: string): this {
    this._events.push({ severity: "Warning", reason, message });
    return this;
  }

  /** When staying, run again after this many milliseconds instead of the work interval. */
  requeueAfter(ms: number): this {
    this._requeueAfterMs = ms;
    return this;
  }

  /** The phase to move to, or undefined to stay. */
  get nextPhase(): string | undefined {
    return this._next;
  }
  get outputs(): readonly KubeObject[] {
    return this._outputs;
  }
  get statusInfo(): I | undefined {
    return this._statusInfo;
  }
  get conditions(): readonly Condition[] {
    return this._conditions;
  }
  get events(): readonly Event[] {
    return this._events;
  }
  get requeueAfterMs(): number | undefined {
    return this._requeueAfterMs;
  }
}

/** What a finalize handler answers: done, or not yet (and when to call again). */
export class Finalized {
  private readonly _events: Event[] = [];
  private _requeueAfterMs: number | undefined;

  private constructor(readonly isDone: boolean) {}

  /** Cleanup is complete: the scheduler may remove the finalizer. */
  static done(): Finalized {
    return new Finalized(true);
  }

  /** Cleanup is still running: call again. */
  static notYet(): Finalized {
    return new Finalized(false);
  }

  /** When not done, call again after this many milliseconds. */
  requeueAfter(ms: number): this {
    this._requeueAfterMs = ms;
    return this;
  }
  eventNormal(reason: string, message: string): this {
    this._events.push({ severity: "Normal", reason, message });
    return this;
  }
  eventWarning(reason: string, message: string): this {
    this._events.push({ severity: "Warning", reason, message });
    return this;
  }
  get events(): readonly Event[] {
    return this._events;
  }
  get requeueAfterMs(): number | undefined {
    return this._requeueAfterMs;
  }
}

function isBuilder(object: KubeObject | ObjectBuilder): object is ObjectBuilder {
  return typeof (object as ObjectBuilder).toObject === "function";
}

function nonEmpty(value: unknown): boolean {
  return typeof value === "string" && value !== "";
}
