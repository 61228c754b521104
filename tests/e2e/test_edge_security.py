"""The HTTP edge's own rules over the real chain: security headers on every answer, header
caps (400 naming the header in the dialect's envelope, 431 for the block, never gRPC's
429), Content-Type where the contracts want JSON, and deadlines for slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from inlet_common.channels import channel
from inlet_devstack import reuse
from inlet_devstack.saved import DemoCredentials
from inlet_devstack.stack import Stack
from inlet_gateway import server
from inlet_gateway.config import GatewayConfig
from tests.polling import until

pytestmark = pytest.mark.e2e

LONG = 60_000


@pytest.fixture(scope="module")
async def demo(stack: Stack) -> DemoCredentials:
    """Every dialect's credentials (make run's demo: endpoint, stream, integration, push)."""
    async with channel(stack.address("store")) as ch:
        ready = await reuse.ensure(
            ch, bootstrap_token=stack.bootstrap_token, saved=DemoCredentials()
        )
    return ready.credentials


def _bearer(secret: Any) -> dict[str, str]:
    assert secret is not None
    return {"Authorization": f"Bearer {secret.secret}", "Content-Type": "application/json"}


def _session_id(demo: DemoCredentials) -> str:
    assert demo.push_session is not None
    return demo.push_session.name.rsplit("/", 1)[1]


def _endpoint_url(demo: DemoCredentials) -> str:
    return f"/api/v1/ingest/{demo.endpoints['contact'].secret}"


def _transfer(demo: DemoCredentials) -> dict[str, Any]:
    email = f"t{secrets.token_hex(4)}@acme.no"
    return {
        "session_id": _session_id(demo),
        "endgrate_type": "crm-contact",
        "transfer_data": [{"data": {"first_name": "Kari", "email": email}}],
    }


def _contact() -> dict[str, Any]:
    return {"fields": {"name": "Edge", "email": f"e{secrets.token_hex(4)}@acme.no"}}


def _no_grpc_leak(answer: httpx.Response) -> None:
    assert answer.status_code != 429, answer.text
    assert "metadata" not in answer.text.lower()


# --- headers on every answer ----------------------------------------------------------------


async def test_every_answer_is_nosniff_no_store_and_has_no_server_banner(
    http: httpx.AsyncClient, demo: DemoCredentials
) -> None:
    assert demo.project_token is not None
    answers = [
        await http.post(_endpoint_url(demo), json=_contact()),
        await http.post(_endpoint_url(demo), content=b"{"),
        await http.get("/no/such/route"),
        await http.get("/healthz"),
        await http.get(
            f"/admin/v1/{demo.workspace}", headers={"Authorization": f"Bearer {demo.admin_token}"}
        ),
        await http.get("/admin/v1/workspaces/nope"),
        await http.get("/api/v1/external/ping", headers=_bearer(demo.project_token)),
    ]
    assert [a.status_code for a in answers][:1] == [200]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        assert answer.headers["cache-control"] == "no-store", answer.url
        assert "server" not in answer.headers, answer.url


async def test_the_public_documents_may_be_cached_but_are_not_sniffed(
    http: httpx.AsyncClient,
) -> None:
    for path in ("/openapi.json", "/docs"):
        answer = await http.get(path)
        assert answer.status_code == 200
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "no-store" not in answer.headers.get("cache-control", "")
        assert "server" not in answer.headers


async def test_an_answer_carrying_a_new_secret_is_not_stored(
    http: httpx.AsyncClient, demo: DemoCredentials
) -> None:
    made = await http.post(
        f"/admin/v1/{demo.workspace}/ingestEndpoints",
        json={"display_name": "secret-bearing", "entity_type": "contact"},
        headers={"Authorization": f"Bearer {demo.admin_token}"},
    )
    assert made.status_code == 200, made.text
    assert made.json()["token"]
    assert made.headers["cache-control"] == "no-store"


# --- over-long headers ----------------------------------------------------------------------


async def test_an_over_long_idempotency_key_is_400_in_every_dialect(
    http: httpx.AsyncClient, demo: DemoCredentials
) -> None:
    key = {"Idempotency-Key": "k" * LONG}
    endpoint = await http.post(_endpoint_url(demo), json=_contact(), headers=key)
    assert endpoint.status_code == 400, endpoint.text
    assert endpoint.headers["content-type"] == "application/problem+json"
    assert endpoint.json()["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert "Idempotency-Key" in endpoint.json()["detail"]

    stream = await http.post(
        "/api/ingest", json={"region": "N"}, headers={**_bearer(demo.ingest_key), **key}
    )
    assert stream.status_code == 400, stream.text
    error = stream.json()["error"]
    assert error["code"] == "INVALID_PAYLOAD"
    assert [(d["field"], d["code"]) for d in error["details"]] == [("Idempotency-Key", "TOO_LONG")]

    integration = await http.post(
        "/api/v1/external/data-ingestion/contacts",
        json=[{"email": "x@acme.no"}],
        headers={**_bearer(demo.project_token), **key},
    )
    assert integration.status_code == 400, integration.text
    assert integration.json()["code"] == "INVALID_IDEMPOTENCY_KEY"

    transfer = await http.post(
        "/api/push/transfer", json=_transfer(demo), headers={**_bearer(demo.api_key), **key}
    )
    assert transfer.status_code == 400, transfer.text
    assert [(d["field"], d["code"]) for d in transfer.json()["details"]] == [
        ("Idempotency-Key", "TOO_LONG")
    ]
    for answer in (endpoint, stream, integration, transfer):
        _no_grpc_leak(answer)


async def test_other_over_long_headers_are_refused_naming_them(
    http: httpx.AsyncClient, demo: DemoCredentials
) -> None:
    item_key = await http.post(
        "/api/ingest",
        json={"region": "N"},
        headers={**_bearer(demo.ingest_key), "X-Item-Key": "r" * 10_000},
    )
    assert item_key.status_code == 400, item_key.text
    assert [d["field"] for d in item_key.json()["error"]["details"]] == ["X-Item-Key"]

    credential = await http.post(
        "/api/ingest",
        json={"region": "N"},
        headers={"Authorization": "Bearer " + "x" * 10_000, "Content-Type": "application/json"},
    )
    assert credential.status_code == 401, credential.text
    assert credential.json()["error"]["code"] == "UNAUTHORIZED"

    stream_name = await http.post(
        "/api/ingest",
        json={"region": "N"},
        headers={**_bearer(demo.ingest_key), "X-Stream": "s" * 10_000},
    )
    assert stream_name.status_code in (400, 404), stream_name.text
    assert stream_name.json()["success"] is False
    for answer in (item_key, credential, stream_name):
        _no_grpc_leak(answer)
        assert len(answer.content) < 4096  # the value is not echoed back whole


async def test_a_header_block_past_64_kib_is_431_in_the_dialect(
    http: httpx.AsyncClient, demo: DemoCredentials
) -> None:
    padding = {"X-Padding": "p" * 70_000}
    stream = await http.post(
        "/api/ingest", json={"region": "N"}, headers={**_bearer(demo.ingest_key), **padding}
    )
    assert stream.status_code == 431, stream.text
    assert stream.json()["error"]["code"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"
    endpoint = await http.post(_endpoint_url(demo), json=_contact(), headers=padding)
    assert endpoint.status_code == 431
    assert endpoint.headers["content-type"] == "application/problem+json"
    assert endpoint.json()["code"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"
    assert endpoint.headers["connection"] == "close"
    # Many headers that are each small add up the same way.
    many = {f"X-Pad-{i}": "p" * 100 for i in range(700)}
    assert (await http.get("/healthz", headers=many)).status_code == 431


# --- Content-Type ---------------------------------------------------------------------------


async def test_stream_ingest_requires_json_as_its_contract_says(
    http: httpx.AsyncClient, demo: DemoCredentials
) -> None:
    assert demo.ingest_key is not None
    auth = {"Authorization": f"Bearer {demo.ingest_key.secret}"}
    missing = await http.post("/api/ingest", content=b'{"region": "N"}', headers=auth)
    assert missing.status_code == 400, missing.text
    assert missing.json()["error"]["code"] == "INVALID_PAYLOAD"
    assert "Content-Type" in missing.json()["error"]["message"]
    other = await http.post(
        "/api/ingest",
        content=b'{"region": "N"}',
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert other.status_code == 400, other.text
    assert other.json()["error"]["code"] == "INVALID_PAYLOAD"
    assert [d["field"] for d in other.json()["error"]["details"]] == ["Content-Type"]
    charset = await http.post(
        "/api/ingest",
        content=b'{"region": "N"}',
        headers={**auth, "Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 202, charset.text


async def test_other_json_routes_refuse_another_media_type_with_415(
    http: httpx.AsyncClient, demo: DemoCredentials
) -> None:
    xml = {"Content-Type": "text/xml"}
    endpoint = await http.post(
        _endpoint_url(demo), content=b'{"fields": {"name": "X"}}', headers=xml
    )
    assert endpoint.status_code == 415, endpoint.text
    assert endpoint.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert [e["field"] for e in endpoint.json()["errors"]] == ["Content-Type"]
    integration = await http.post(
        "/api/v1/external/data-ingestion/contacts",
        content=b"[]",
        headers={**_bearer(demo.project_token), **xml},
    )
    assert integration.status_code == 415, integration.text
    assert integration.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    transfer = await http.post(
        "/api/push/transfer", content=b"{}", headers={**_bearer(demo.api_key), **xml}
    )
    assert transfer.status_code == 415, transfer.text
    assert transfer.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    # Contracts that do not require it accept a JSON body sent without one.
    untyped = await http.post(
        _endpoint_url(demo), content=b'{"fields": {"name": "Untyped"}}', headers={}
    )
    assert untyped.status_code == 200, untyped.text


# --- slow clients ---------------------------------------------------------------------------


@pytest.fixture
async def strict_gateway(stack: Stack) -> AsyncIterator[server.RunningGateway]:
    """A gateway in front of the same services, with short deadlines for slow clients."""
    config = GatewayConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        matcher_addr=stack.address("matcher"),
        store_addr=stack.address("store"),
        notifier_addr=stack.address("notifier"),
        header_timeout_seconds=1.0,
        body_timeout_seconds=1.0,
        console=False,
    )
    running = await server.start(config)
    yield running
    await running.stop()


@contextlib.asynccontextmanager
async def raw_connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, family=socket.AF_INET)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_a_client_trickling_its_headers_is_disconnected(
    strict_gateway: server.RunningGateway, demo: DemoCredentials
) -> None:
    async with raw_connection(strict_gateway.port) as (reader, writer):
        writer.write(b"POST /api/ingest HTTP/1.1\r\nHost: inlet\r\nX-Slow: 1\r\n")
        await writer.drain()
        # The head never completes: the edge closes the connection without an answer.
        closed = await asyncio.wait_for(reader.read(), timeout=15)
        assert closed == b""


async def test_a_client_trickling_its_body_gets_408_in_the_dialect_and_is_closed(
    strict_gateway: server.RunningGateway, demo: DemoCredentials
) -> None:
    assert demo.ingest_key is not None
    head = (
        "POST /api/ingest HTTP/1.1\r\nHost: inlet\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {demo.ingest_key.secret}\r\nContent-Length: 100\r\n\r\n"
    )
    async with raw_connection(strict_gateway.port) as (reader, writer):
        writer.write(head.encode() + b'{"region"')
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=15)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", answer[:200]
    assert b"connection: close" in rest.lower()
    assert b'"success":false' in rest


async def test_slow_clients_do_not_hold_up_normal_pushes(
    strict_gateway: server.RunningGateway, demo: DemoCredentials
) -> None:
    async with contextlib.AsyncExitStack() as held:
        for _ in range(50):
            _, writer = await held.enter_async_context(raw_connection(strict_gateway.port))
            writer.write(b"POST /api/ingest HTTP/1.1\r\nHost: inlet\r\n")
            await writer.drain()
        async with httpx.AsyncClient(base_url=strict_gateway.url, timeout=10) as client:
            for _ in range(5):
                pushed = await client.post(_endpoint_url(demo), json=_contact())
                assert pushed.status_code == 200, pushed.text

    # A client that keeps its connection open between requests is not cut off by the
    # head deadline while it is being answered.
    async with httpx.AsyncClient(base_url=strict_gateway.url, timeout=10) as client:
        first = await client.post(_endpoint_url(demo), json=_contact())
        second = await until(
            lambda: client.post(_endpoint_url(demo), json=_contact()), what="a second push"
        )
        assert (first.status_code, second.status_code) == (200, 200)


async def test_a_huge_field_name_is_refused_by_name_not_by_grpc(
    http: httpx.AsyncClient, demo: DemoCredentials
) -> None:
    name = "f" * 20_000
    endpoint = await http.post(_endpoint_url(demo), json={"fields": {name: 1}})
    stream = await http.post("/api/ingest", json={name: 1}, headers=_bearer(demo.ingest_key))
    transfer_body = _transfer(demo)
    transfer_body["transfer_data"][0]["data"][name] = 1
    transfer = await http.post(
        "/api/push/transfer", json=transfer_body, headers=_bearer(demo.api_key)
    )
    for answer in (endpoint, stream, transfer):
        _no_grpc_leak(answer)
        assert answer.status_code in (200, 202, 400), answer.text[:300]
        assert len(answer.content) < 8192
