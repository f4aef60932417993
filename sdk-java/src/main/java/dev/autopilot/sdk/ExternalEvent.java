package dev.autopilot.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Map;

/**
 * One event from outside the cluster (a CloudEvent, a GitHub delivery, a generic webhook call),
 * in the shape of a CloudEvent. The scheduler hands each event to a resource's phase until a call
 * of that phase succeeds and its result is written, so a handler sees an event again only when
 * its previous call failed.
 *
 * @param id unique per source: the CloudEvents id, GitHub's X-GitHub-Delivery, or the webhook's id
 * @param source the CloudEvents source; for GitHub the repository's URL; for a webhook its name
 * @param type the CloudEvents type; for GitHub {@code event.action}, e.g. {@code
 *     pull_request.closed}
 * @param subject the CloudEvents subject, empty when absent
 * @param time when it happened (or was received, when it does not say); null when unknown
 * @param dataContentType the media type of {@code data}, e.g. {@code application/json}
 * @param data the payload, exactly as received
 * @param extensions CloudEvents extension attributes
 * @param accepted when the scheduler accepted (stored) it; null when unknown
 */
public record ExternalEvent(
    String id,
    String source,
    String type,
    String subject,
    Instant time,
    String dataContentType,
    byte[] data,
    Map<String, String> extensions,
    Instant accepted) {

  /** An event with a JSON payload, for tests. */
  public static ExternalEvent ofJson(String id, String source, String type, Object data) {
    return new ExternalEvent(
        id,
        source,
        type,
        "",
        null,
        "application/json",
        Json.bytes(Json.tree(data)),
        Map.of(),
        null);
  }

  /**
   * The payload as a JSON tree.
   *
   * @throws WorkerException invalid when the payload is not JSON
   */
  public JsonNode json() throws WorkerException {
    try {
      return Json.parse(data);
    } catch (UncheckedIOException e) {
      throw WorkerException.invalid("event " + id + " data is not JSON: " + e.getMessage())
          .withCause(e);
    }
  }

  /**
   * The payload converted to {@code type} (a record generated from the source's schema).
   *
   * @throws WorkerException invalid when the payload is not JSON or does not match
   */
  public <T> T data(Class<T> type) throws WorkerException {
    try {
      return Json.convert(json(), type);
    } catch (IllegalArgumentException e) {
      throw WorkerException.invalid("event " + id + " data " + e.getMessage()).withCause(e);
    }
  }

  /** The payload as UTF-8 text. */
  public String text() {
    return new String(data, StandardCharsets.UTF_8);
  }
}
