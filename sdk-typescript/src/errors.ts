/** WorkerError: how a handler fails, and the gRPC status code each failure becomes. */

import { status } from "@grpc/grpc-js";

/** The trailer asking the scheduler for a minimum delay before it retries (decimal ms). */
export const RETRY_AFTER_TRAILER = "autopilot-retry-after-ms";

/**
 * What kind of failure a {@link WorkerError} is. The scheduler decides from the gRPC code alone:
 * - `retryable` and `inputUnavailable` are sent as UNAVAILABLE and retried with backoff;
 * - `permanent` is sent as FAILED_PRECONDITION and shown in the resource's WorkerError condition;
 * - `invalid`, `decode` and `missingInput` are sent as INVALID_ARGUMENT (permanent);
 * - `invalidOutput` and `invalidCondition` (bugs in the worker) are sent as INTERNAL (permanent).
 */
export type WorkerErrorKind =
  | "retryable"
  | "permanent"
  | "invalid"
  | "decode"
  | "missingInput"
  | "inputUnavailable"
  | "invalidOutput"
  | "invalidCondition";

const CODES: Record<WorkerErrorKind, status> = {
  retryable: status.UNAVAILABLE,
  inputUnavailable: status.UNAVAILABLE,
  permanent: status.FAILED_PRECONDITION,
  invalid: status.INVALID_ARGUMENT,
  decode: status.INVALID_ARGUMENT,
  missingInput: status.INVALID_ARGUMENT,
  invalidOutput: status.INTERNAL,
  invalidCondition: status.INTERNAL,
};

/**
 * Why a handler (or the SDK on its behalf) could not finish a call.
 *
 * ```ts
 * throw WorkerError.retryable("the metrics backend is warming up", { retryAfterMs: 5000 });
 * throw WorkerError.permanent(`no Deployment named ${ctx.spec.target}`);
 * ```
 *
 * Any other exception a handler throws fails only its own call, with INTERNAL.
 */
export class WorkerError extends Error {
  /** What kind of failure this is; decides the gRPC code. */
  readonly kind: WorkerErrorKind;
  /** The minimum delay before the scheduler retries, for retryable errors. */
  readonly retryAfterMs: number | undefined;

  constructor(kind: WorkerErrorKind, message: string, retryAfterMs?: number) {
    super(message);
    this.name = "WorkerError";
    this.kind = kind;
    this.retryAfterMs = kind === "retryable" ? retryAfterMs : undefined;
  }

  /** A transient failure: the scheduler retries the phase with backoff (UNAVAILABLE). */
  static retryable(message: string, options: { retryAfterMs?: number } = {}): WorkerError {
    return new WorkerError("retryable", message, options.retryAfterMs);
  }

  /** A failure retrying will not fix until something else changes (FAILED_PRECONDITION). */
  static permanent(message: string): WorkerError {
    return new WorkerError("permanent", message);
  }

  /** The request cannot be used by this worker (INVALID_ARGUMENT). */
  static invalid(message: string): WorkerError {
    return new WorkerError("invalid", message);
  }

  /** The gRPC status code this error is sent as. */
  get code(): status {
    return CODES[this.kind];
  }

  /** True when the scheduler retries this error with backoff. */
  get isRetryable(): boolean {
    return isRetryableCode(this.code);
  }
}

/** True for the codes the contract retries: UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED. */
export function isRetryableCode(code: status): boolean {
  return (
    code === status.UNAVAILABLE ||
    code === status.RESOURCE_EXHAUSTED ||
    code === status.DEADLINE_EXCEEDED ||
    code === status.ABORTED
  );
}
