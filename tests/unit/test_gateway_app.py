"""The ASGI app driven directly (no sockets): request ids and the last-resort 500."""

from __future__ import annotations

from typing import Any

import grpc
import orjson

from inlet_gateway.app import Gateway, accepted_request_id, create_app, new_request_id
from inlet_gateway.config import GatewayConfig

CONFIG = GatewayConfig(listen_host="127.0.0.1", listen_port=0, matcher_addr="matcher:1")


def broken_channel(address: str) -> grpc.aio.Channel:
    raise RuntimeError(f"cannot open {address}")


async def drive(app: Gateway, method: str, path: str, body: bytes = b"") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    events = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(event: dict[str, Any]) -> None:
        sent.append(event)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"x-request-id", b"r-1")],
        "client": ("10.0.0.1", 1234),
    }
    await app(scope, receive, send)
    return sent


def test_request_ids() -> None:
    assert accepted_request_id(b"abc:1.2-3_4") == "abc:1.2-3_4"
    assert accepted_request_id(b"") is None
    assert accepted_request_id(b"no/slash") is None
    assert accepted_request_id(None) is None
    generated = new_request_id()
    assert generated.startswith("req_")
    assert len(generated) == 30
    assert accepted_request_id(generated.encode()) == generated


async def test_an_unexpected_failure_is_a_500_problem_with_the_request_id() -> None:
    app = create_app(CONFIG, channel_factory=broken_channel)

    start, body = await drive(app, "POST", "/api/v1/ingest/tok", b'{"fields": {}}')

    assert start["status"] == 500
    headers = dict(start["headers"])
    assert headers[b"x-request-id"] == b"r-1"
    assert headers[b"content-type"] == b"application/problem+json"
    document = orjson.loads(body["body"])
    assert document["code"] == "INTERNAL"
    assert document["request_id"] == "r-1"


async def test_lifespan_completes_and_closes_channels() -> None:
    app = create_app(CONFIG)
    events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return events.pop(0)

    async def send(event: dict[str, Any]) -> None:
        sent.append(event)

    await app({"type": "lifespan"}, receive, send)

    assert [e["type"] for e in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
