"""Building ingest requests and reading answers in tests, with numbers kept exact."""

from __future__ import annotations

from typing import Any

from google.api import httpbody_pb2
from google.protobuf import message

from inlet.ingest.v1 import ingest_pb2
from inlet_common import exactjson, protojson


def http_body(value: Any) -> httpbody_pb2.HttpBody:
    """`value` as the HTTP body a client would send (raw bytes pass through as they are)."""
    data = value if isinstance(value, bytes) else exactjson.dumps(value)
    return httpbody_pb2.HttpBody(content_type="application/json", data=data)


def push_request(token: str, body: Any) -> ingest_pb2.PushEndpointRequest:
    return ingest_pb2.PushEndpointRequest(token=token, body=http_body(body))


def stream_request(body: Any, stream: str = "") -> ingest_pb2.IngestStreamRequest:
    return ingest_pb2.IngestStreamRequest(body=http_body(body), stream=stream)


def as_dict(msg: message.Message) -> dict[str, Any]:
    """proto3 JSON with every RawJson field as its value (numbers exact)."""
    found: dict[str, Any] = protojson.to_json(msg, parsed=True)
    return found
