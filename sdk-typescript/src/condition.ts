/** Condition: a status condition a handler sets, or reads from the resource. */

/** "True", "False" or "Unknown". */
export type ConditionStatus = "True" | "False" | "Unknown";

/** A status condition, in the shape of metav1.Condition (the scheduler adds the times). */
export interface Condition {
  /** CamelCase type, for example "Healthy". The scheduler owns Ready, Progressing and WorkerError. */
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
