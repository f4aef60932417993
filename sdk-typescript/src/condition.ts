/** Condition: a status condition a handler sets, or reads from the resource. */

/** "True", "False" or "Unknown". */
export type ConditionStatus = "True" | "False" | "Unknown";

/**
 * The condition types the scheduler owns and writes itself. A worker may read them but not set
 * them: `Outcome.condition` throws a `WorkerError` (kind `invalidCondition`) for one, before the
 * scheduler would refuse it.
 * - `Ready`: the resource is in a final phase, or its last call succeeded;
 * - `Progressing`: the resource is moving through its phases (`Blocked`, `Retrying`, ...);
 * - `WorkerError`: the last worker call, or applying its result, failed;
 * - `InputsAvailable`: every resource input of the phase could be read;
 * - `MetricsAvailable`: every metric query of the phase succeeded;
 * - `Paused`: the resource is held by `ap pause`;
 * - `AwaitingApproval`: a gate of the current phase waits for `ap approve`;
 * - `Aborted`: `ap abort` was honoured, or could not be.
 */
export const SCHEDULER_CONDITIONS: readonly string[] = Object.freeze([
  "Ready",
  "Progressing",
  "WorkerError",
  "InputsAvailable",
  "MetricsAvailable",
  "Paused",
  "AwaitingApproval",
  "Aborted",
]);

/** Why a worker may not set a condition of `type`, or undefined when it may. */
export function conditionRefusal(type: string): string | undefined {
  if (type === "") {
    return "a condition needs a type";
  }
  if (SCHEDULER_CONDITIONS.includes(type)) {
    return (
      `condition type ${type} is owned by the scheduler (it owns ${SCHEDULER_CONDITIONS.join(", ")}); ` +
      "give the condition a type of the operator's own, such as Healthy or Analyzed"
    );
  }
  return undefined;
}

/** A status condition, in the shape of metav1.Condition (the scheduler adds the times). */
export interface Condition {
  /** CamelCase type, for example "Healthy". The scheduler owns those in SCHEDULER_CONDITIONS. */
  type: string;
  status: ConditionStatus;
  /** CamelCase reason. */
  reason: string;
  /** Human-readable message. */
  message: string;
}

/** A condition whose status is `True` when `ok`, else `False`. */
export function condition(type: string, ok: boolean, reason: string, message = ""): Condition {
  return { type, status: ok ? "True" : "False", reason, message };
}
