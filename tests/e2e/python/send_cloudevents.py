"""Sends CloudEvents to a receiver with the official CloudEvents Python SDK, as a user would.

Reads one JSON request per line on stdin: {"mode": "binary" | "structured" | "batch",
"events": [{"attributes": {...}, "data": ...}, ...]} (binary and structured take one event).
Writes one JSON line per request on stdout: {"status": <HTTP status>, "body": <reply text>}.

Binary and structured requests are made by the SDK's HTTP binding (to_binary_event,
to_structured_event). The SDK has no batch writer, so a batch is the SDK's JSON event format
(JSONFormat.write) of each event in a JSON array, sent as application/cloudevents-batch+json,
as the HTTP binding's batched content mode specifies.
"""

import json
import sys
import urllib.error
import urllib.request

from cloudevents.core.bindings import http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"


def post(url: str, token: str, headers: dict[str, str], body: bytes) -> dict[str, object]:
    request = urllib.request.Request(url, data=body, method="POST")
    for name, value in headers.items():
        request.add_header(name, value)
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return {"status": reply.status, "body": reply.read().decode()}
    except urllib.error.HTTPError as error:
        return {"status": error.code, "body": error.read().decode()}


def send(url: str, token: str, request: dict[str, object]) -> dict[str, object]:
    events = [CloudEvent(attributes=e["attributes"], data=e.get("data")) for e in request["events"]]
    mode = request["mode"]
    if mode == "batch":
        fmt = JSONFormat()
        body = b"[" + b",".join(fmt.write(e) for e in events) + b"]"
        return post(url, token, {"Content-Type": BATCH_CONTENT_TYPE}, body)
    (event,) = events
    message = http.to_binary_event(event) if mode == "binary" else http.to_structured_event(event)
    return post(url, token, dict(message.headers), message.body)


def main() -> None:
    url, token = sys.argv[1], sys.argv[2]
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(send(url, token, json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
