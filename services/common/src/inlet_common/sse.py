"""Server-Sent Events for server-streaming RPCs: each message of the call is one event.

Rendered by the service (a feed's HTTP twin, inlet_common.httptwins), written as they come
by either edge. The convention, for any server-streaming RPC with a google.api.http GET: a
message whose set oneof field is `heartbeat` becomes a comment line (it keeps proxies and
the client's connection alive); any other becomes `event: <field name>` with that field as
proto3 JSON in `data:`, and its `position` (when it has one) as the event's `id:`, which
a reconnecting EventSource sends back as Last-Event-ID. An error after the stream began is
the last event, `event: error`, with the dialect's error body as its data.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import message

from inlet_common import exactjson, protojson

CONTENT_TYPE = "text/event-stream; charset=utf-8"
HEADERS: list[tuple[str, str]] = [
    # A feed is never the same twice; nothing in between may keep or buffer it.
    ("cache-control", "no-store"),
    ("x-accel-buffering", "no"),
]
# How long an EventSource waits before reconnecting, in milliseconds.
RETRY_MS = 1000
HEARTBEAT = "heartbeat"


def opening() -> bytes:
    return f"retry: {RETRY_MS}\n\n".encode()


def event(response: message.Message) -> bytes:
    """One message of the call as SSE text."""
    oneofs = response.DESCRIPTOR.oneofs
    name = response.WhichOneof(oneofs[0].name) if oneofs else None
    if name is None:
        return _lines("message", None, exactjson.dumps(protojson.to_json(response)))
    inner = getattr(response, name)
    position = getattr(inner, "position", None) if hasattr(inner, "position") else None
    if name == HEARTBEAT:
        return (
            f": {HEARTBEAT} {position if position is not None else ''}".rstrip().encode() + b"\n\n"
        )
    return _lines(name, position, exactjson.dumps(protojson.to_json(inner)))


def error_event(body: bytes) -> bytes:
    return _lines("error", None, body)


def _lines(name: str, position: Any, data: bytes) -> bytes:
    head = f"id: {position}\n" if position is not None else ""
    # JSON has no raw newlines, so the data is one `data:` line.
    return f"{head}event: {name}\n".encode() + b"data: " + data + b"\n\n"
