"""The ASGI app driven directly (no sockets): request ids and the last-resort 500."""

from __future__ import annotations

from typing import Any

import grpc
import orjson

from inlet_common.requestids import from_metadata, new_request_id, well_formed
from inlet_gateway.app import Gateway, create_app
from inlet_gateway.config import GatewayConfig

CONFIG = GatewayConfig(listen_host="127.0.0.1", listen_port=0, matcher_addr="matcher:1")


def broken_channel(address: str) -> grpc.aio.Channel:
    raise RuntimeError(f"cannot open {address}")


async def drive(
    app: Gateway,
    method: str,
    path: str,
    body: bytes = b"",
    headers: tuple[tuple[bytes, bytes], ...] = ((b"x-request-id", b"r-1"),),
) -> list[dict[str, Any]]:
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
        "headers": list(headers),
        "client": ("10.0.0.1", 1234),
    }
    await app(scope, receive, send)
    return sent


def test_request_ids() -> None:
    assert well_formed(b"abc:1.2-3_4") == "abc:1.2-3_4"
    assert well_formed("550e8400-e29b-41d4-a716-446655440000")
    assert well_formed(b"") is None
    assert well_formed(b"no/slash") is None
    assert well_formed("x" * 129) is None
    assert well_formed(None) is None
    generated = new_request_id()
    assert generated.startswith("req_")
    assert len(generated) == 30
    assert generated != new_request_id()
    assert well_formed(generated.encode()) == generated


def test_services_take_the_ids_from_metadata_and_make_one_only_when_none_came() -> None:
    assert from_metadata([("x-request-id", "req_a"), ("x-client-request-id", "c-1")]) == (
        "req_a",
        "c-1",
    )
    made, client = from_metadata([("authorization", "Bearer x")])
    assert made.startswith("req_")
    assert client == ""
    # A malformed id is not carried: a new one is made, a bad client id dropped.
    made, client = from_metadata([("x-request-id", "a b"), ("x-client-request-id", "c\n")])
    assert made.startswith("req_")
    assert client == ""


async def test_an_unexpected_failure_is_a_500_problem_with_the_request_id() -> None:
    app = create_app(CONFIG, channel_factory=broken_channel)

    start, body = await drive(app, "POST", "/api/v1/ingest/tok", b'{"fields": {}}')

    assert start["status"] == 500
    headers = dict(start["headers"])
    request_id = headers[b"x-request-id"].decode()
    assert request_id.startswith("req_")
    assert headers[b"content-type"] == b"application/problem+json"
    document = orjson.loads(body["body"])
    assert document["code"] == "INTERNAL"
    assert document["request_id"] == request_id


async def test_a_client_request_id_is_echoed_beside_ours_never_as_ours() -> None:
    app = create_app(CONFIG, channel_factory=broken_channel)

    start, _ = await drive(app, "GET", "/healthz")
    headers = dict(start["headers"])
    assert headers[b"x-request-id"].startswith(b"req_")
    assert headers[b"x-client-request-id"] == b"r-1"

    start, _ = await drive(app, "GET", "/healthz", headers=((b"x-request-id", b"bad id"),))
    headers = dict(start["headers"])
    assert headers[b"x-request-id"].startswith(b"req_")
    assert b"x-client-request-id" not in headers

    start, _ = await drive(app, "GET", "/healthz", headers=())
    assert b"x-client-request-id" not in dict(start["headers"])


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
