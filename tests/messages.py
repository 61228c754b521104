"""Building requests and reading answers in tests, with numbers kept exact."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from google.api import httpbody_pb2
from google.protobuf import message

from inlet.admin.v1 import admin_pb2
from inlet.ingest.v1 import ingest_pb2
from inlet_common import exactjson, protojson
from inlet_devstack.demo import DemoSeed

if TYPE_CHECKING:
    # Only the .pyi knows the async stubs' names.
    from inlet.admin.v1.admin_pb2_grpc import AdminServiceAsyncStub
    from inlet.ingest.v1.ingest_pb2_grpc import IngestServiceAsyncStub


PROBLEM = "application/problem+json"


def push_url(seed: DemoSeed, slug: str) -> str:
    """The HTTP push URL of the seed's `slug` endpoint."""
    return f"/api/v1/ingest/{seed.tokens[slug]}"


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


def number_in(text: str, field: str) -> str:
    """The literal text of a number field in a JSON document (no parsing)."""
    found = re.search(rf'"{field}":\s*(-?[0-9][0-9.eE+-]*)', text)
    assert found, (field, text)
    return found.group(1)


def bearer_header(token: str) -> dict[str, str]:
    """HTTP headers presenting `token` (gRPC metadata: inlet_devstack.demo.bearer)."""
    return {"authorization": f"Bearer {token}"}


def key_headers(key: str, **headers: str) -> dict[str, str]:
    """HTTP headers of a JSON stream request with ingest key `key`, and any others."""
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers}


async def push(ingest: IngestServiceAsyncStub, token: str, body: Any) -> dict[str, Any]:
    """PushEndpoint over gRPC; its answer as JSON."""
    return as_dict(await ingest.PushEndpoint(push_request(token, body)))


async def activity(
    admin: AdminServiceAsyncStub, seed: DemoSeed, slug: str = "contact"
) -> list[dict[str, Any]]:
    """The activity log of the seed's `slug` endpoint."""
    reply = await admin.ListActivityEntries(
        admin_pb2.ListActivityEntriesRequest(parent=seed.endpoints[slug], page_size=500),
        metadata=seed.auth,
    )
    return [as_dict(e) for e in reply.activity_entries]


async def records(admin: AdminServiceAsyncStub, seed: DemoSeed, slug: str) -> list[dict[str, Any]]:
    """The seed workspace's records of entity type `slug`, as the admin API lists them."""
    reply = await admin.ListRecords(
        admin_pb2.ListRecordsRequest(parent=f"{seed.workspace}/entityTypes/{slug}", page_size=500),
        metadata=seed.auth,
    )
    return [as_dict(r) for r in reply.records]
