/** ExternalEvent: an event from outside the cluster delivered to a phase. */

import { WorkerError } from "./errors";
import type * as wire from "./wire";

/**
 * One external event (a CloudEvent, a GitHub delivery, a generic webhook call), in the shape of
 * a CloudEvent. The scheduler hands each event to a resource's phase until a call of that phase
 * succeeds and its result is written, so a handler sees an event again only when its previous
 * call failed.
 */
export interface ExternalEvent {
  /** Unique per source: the CloudEvents id, GitHub's X-GitHub-Delivery, or the webhook's id. */
  id: string;
  /** The CloudEvents source; for GitHub the repository's URL; for a webhook its name. */
  source: string;
  /** The CloudEvents type; for GitHub `event.action` such as `pull_request.closed`. */
  type: string;
  /** The CloudEvents subject, "" when absent. */
  subject: string;
  /** When it happened (or was received, when it does not say). */
  time: Date | undefined;
  /** The media type of `data`, such as `application/json`. */
  dataContentType: string;
  /** The payload, exactly as received. */
  data: Uint8Array;
  /** CloudEvents extension attributes. */
  extensions: Record<string, string>;
  /** When the scheduler accepted (stored) it. */
  accepted: Date | undefined;
}

/** One event source's input: its events, or why the scheduler could not read them. */
export type EventInput = ExternalEvent[] | { error: string };

/**
 * The payload of `event` parsed as JSON and typed as `T` (not validated).
 *
 * @throws {WorkerError} `invalid` when the payload is not JSON.
 */
export function eventData<T = unknown>(event: ExternalEvent): T {
  try {
    return JSON.parse(Buffer.from(event.data).toString("utf8")) as T;
  } catch (err) {
    throw WorkerError.invalid(`event ${JSON.stringify(event.id)} data is not JSON: ${String(err)}`);
  }
}

/** An event with a JSON payload, for tests. */
export function jsonEvent(id: string, source: string, type: string, data: unknown): ExternalEvent {
  return {
    id,
    source,
    type,
    subject: "",
    time: undefined,
    dataContentType: "application/json",
    data: Buffer.from(JSON.stringify(data)),
    extensions: {},
    accepted: undefined,
  };
}

/** The SDK's view of a wire event. */
export function fromWire(e: wire.WireExternalEvent): ExternalEvent {
  const at = (ms: wire.Long): Date | undefined => (Number(ms) > 0 ? new Date(Number(ms)) : undefined);
  return {
    id: e.id,
    source: e.source,
    type: e.type,
    subject: e.subject,
    time: at(e.timeUnixMs),
    dataContentType: e.dataContentType,
    data: e.data,
    extensions: e.extensions ?? {},
    accepted: at(e.acceptedUnixMs),
  };
}
