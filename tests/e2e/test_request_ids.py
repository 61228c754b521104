"""One request, one id, over real HTTP: the id in the X-Request-Id header is the one in the
body, the activity and connector logs, the status API, webhook payloads and the log lines of
every service that handled the request; a client's own X-Request-Id is kept beside it."""

from __future__ import annotations

import json
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo, postgres
from inlet_devstack.ports import Ports
from inlet_devstack.stack import Stack, running
from tests.messages import bearer_header, key_headers
from tests.polling import until
from tests.stream_support import SEED_BATCH, SalesStream, sales_stream
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.e2e

OUR_ID = re.compile(r"req_[a-z2-7]{26}")
SERVICES = ("gateway", "matcher", "store", "notifier")


@pytest.fixture(scope="module")
async def suite(server_url: str) -> AsyncIterator[Stack]:
    """The suite as processes on a database of its own, logging to files we read, with
    webhooks allowed to a receiver on loopback."""
    url = postgres.create_database(server_url, f"inlet_e2e_ids_{secrets.token_hex(4)}")
    log_dir = Path(tempfile.mkdtemp(prefix="inlet-e2e-ids-"))
    env = {"INLET_WEBHOOK_ALLOW_PRIVATE": "true", "INLET_WEBHOOK_POLL_SECONDS": "0.05"}
    try:
        async with running(url, ports=Ports(0, 0, 0, 0), log_dir=log_dir, extra_env=env) as stack:
            yield stack
    finally:
        postgres.drop_database(url)


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


@pytest.fixture(scope="module")
async def seed(suite: Stack) -> demo.DemoSeed:
    async with channel(suite.address("store")) as ch:
        return await demo.seed(
            admin_pb2_grpc.AdminServiceStub(ch),
            bootstrap_token=suite.bootstrap_token,
            workspace_slug=f"ids{secrets.token_hex(4)}",
        )


@pytest.fixture(scope="module")
async def http(suite: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=suite.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def hook(http: httpx.AsyncClient, seed: demo.DemoSeed, receiver: Receiver) -> str:
    """Every event of the workspace goes to the receiver at this path."""
    made = await http.post(
        f"/admin/v1/{seed.workspace}/webhookEndpoints",
        json={"url": receiver.script("/events")},
        headers=bearer_header(seed.admin_token),
    )
    assert made.status_code == 200, made.text
    return "/events"


@pytest.fixture(scope="module")
async def sales(suite: Stack, seed: demo.DemoSeed) -> SalesStream:
    async with channel(suite.address("store")) as ch:
        return await sales_stream(
            admin_pb2_grpc.AdminServiceStub(ch), streams_pb2_grpc.StreamAdminServiceStub(ch), seed
        )


def log_lines(stack: Stack, service: str) -> list[dict[str, Any]]:
    path = stack.services[service].log_path
    assert path is not None
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            found.append(parsed)
    return found


async def logged(
    stack: Stack, service: str, request_id: str, message: str = ""
) -> list[dict[str, Any]]:
    """The service's log lines under `request_id` (at least one, `message` among them)."""

    async def check() -> list[dict[str, Any]]:
        mine = [line for line in log_lines(stack, service) if line["request_id"] == request_id]
        if message and not any(line["message"] == message for line in mine):
            return []
        return mine

    found: list[dict[str, Any]] = await until(check)
    return found


def never_our_id(stack: Stack, client_request_id: str) -> None:
    """A client's id may be logged beside ours, never as ours."""
    for service in SERVICES:
        lines = log_lines(stack, service)
        assert all(line["request_id"] != client_request_id for line in lines)


async def events(receiver: Receiver, path: str, request_id: str, count: int) -> list[Any]:
    """The webhook payloads naming `request_id` once `count` of them have arrived."""

    def mine() -> list[Any]:
        bodies = [json.loads(r.body) for r in receiver.at(path)]
        return [b for b in bodies if b["data"].get("request_id") == request_id]

    await until(lambda: len(mine()) >= count)
    return mine()


async def activity(http: httpx.AsyncClient, seed: demo.DemoSeed, request_id: str) -> Any:
    async def check() -> Any:
        listed = await http.get(
            f"/admin/v1/{seed.endpoints['contact']}/activityEntries",
            headers=bearer_header(seed.admin_token),
        )
        assert listed.status_code == 200, listed.text
        entries = listed.json().get("activity_entries", [])
        return next((e for e in entries if e["request_id"] == request_id), None)

    return await until(check)


async def connector_entry(
    http: httpx.AsyncClient, seed: demo.DemoSeed, sales: SalesStream, request_id: str
) -> Any:
    async def check() -> Any:
        listed = await http.get(
            f"/admin/v1/{sales.name}/connectorLogEntries", headers=bearer_header(seed.admin_token)
        )
        assert listed.status_code == 200, listed.text
        entries = listed.json().get("connector_log_entries", [])
        return next((e for e in entries if e["request_id"] == request_id), None)

    return await until(check)


async def test_a_push_has_one_id_everywhere_and_the_clients_id_beside_it(
    suite: Stack,
    http: httpx.AsyncClient,
    seed: demo.DemoSeed,
    receiver: Receiver,
    hook: str,
) -> None:
    client_id = f"crm-sync-{secrets.token_hex(4)}"
    answer = await http.post(
        f"/api/v1/ingest/{seed.tokens['contact']}",
        json={"fields": {"email": f"{client_id}@acme.no"}},
        headers={"X-Request-Id": client_id},
    )

    assert answer.status_code == 200, answer.text
    request_id = answer.headers["x-request-id"]
    assert OUR_ID.fullmatch(request_id)
    assert answer.headers["x-client-request-id"] == client_id
    entry = await activity(http, seed, request_id)
    assert entry["status_code"] == 200
    assert entry["client_request_id"] == client_id
    [created] = await events(receiver, hook, request_id, 1)
    assert created["type"] == "record.created"
    assert created["data"]["id"] == answer.json()["record"]["id"]
    assert created["data"]["source"]["request_id"] == request_id
    gateway = await logged(suite, "gateway", request_id, "request")
    assert {line["client_request_id"] for line in gateway} == {client_id}
    matcher = await logged(suite, "matcher", request_id, "rpc")
    assert {line["client_request_id"] for line in matcher} == {client_id}
    store = await logged(suite, "store", request_id, "rpc")
    assert {line["rpc"] for line in store} >= {"/inlet.store.v1.StoreService/CommitPush"}
    await logged(suite, "notifier", request_id, "webhook attempt")
    never_our_id(suite, client_id)


async def test_a_stream_request_has_one_id_from_the_202_to_its_webhooks(
    suite: Stack,
    http: httpx.AsyncClient,
    seed: demo.DemoSeed,
    sales: SalesStream,
    receiver: Receiver,
    hook: str,
) -> None:
    client_id = f"batch-{secrets.token_hex(4)}"
    answer = await http.post(
        "/api/ingest",
        json=SEED_BATCH,
        headers=key_headers(sales.key, **{"X-Request-Id": client_id}),
    )

    assert answer.status_code == 202, answer.text
    request_id = answer.headers["x-request-id"]
    assert OUR_ID.fullmatch(request_id)
    assert answer.json()["data"]["request_id"] == request_id
    assert answer.headers["x-client-request-id"] == client_id

    async def done() -> Any:
        got = await http.get(f"/api/ingest/requests/{request_id}", headers=key_headers(sales.key))
        assert got.status_code == 200, got.text  # the header's id is the one to look up
        assert got.headers["x-request-id"] != request_id  # the lookup is a request of its own
        data = got.json()["data"]
        return data if data["status"] == "completed" else None

    status = await until(done)
    assert status["request_id"] == request_id
    entry = await connector_entry(http, seed, sales, request_id)
    assert entry["status"] == "completed"
    assert entry["client_request_id"] == client_id
    payloads = await events(receiver, hook, request_id, 4)
    assert sorted(p["type"] for p in payloads) == ["record.created"] * 3 + ["request.completed"]
    assert {p["data"]["source"]["request_id"] for p in payloads if "source" in p["data"]} == {
        request_id
    }
    await logged(suite, "gateway", request_id, "request")
    await logged(suite, "matcher", request_id, "rpc")
    # The worker that processed it, long after the 202, logs under the same id.
    await logged(suite, "matcher", request_id, "stream request processed")
    store = await logged(suite, "store", request_id, "rpc")
    rpcs = {line["rpc"] for line in store if "rpc" in line}
    assert "/inlet.store.v1.StoreService/AcceptStreamRequest" in rpcs
    # Applied alone, or in a batch of requests (one call, each request's lines its own).
    assert rpcs & {
        "/inlet.store.v1.StoreService/ApplyStreamItems",
        "/inlet.store.v1.StoreService/ApplyStreamRequests",
    }
    await logged(suite, "notifier", request_id, "webhook attempt")
    never_our_id(suite, client_id)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"region": ', 400, "INVALID_PAYLOAD"),
        (b'{"region": "' + b"x" * (1024 * 1024) + b'"}', 413, "PAYLOAD_TOO_LARGE"),
    ],
)
async def test_a_refused_stream_request_is_logged_under_the_id_it_was_shown(
    suite: Stack,
    http: httpx.AsyncClient,
    seed: demo.DemoSeed,
    sales: SalesStream,
    body: bytes,
    status: int,
    code: str,
) -> None:
    answer = await http.post(
        "/api/ingest", content=body, headers=key_headers(sales.key, **{"X-Request-Id": "mine-1"})
    )

    assert answer.status_code == status, answer.text
    request_id = answer.headers["x-request-id"]
    assert OUR_ID.fullmatch(request_id)
    error = answer.json()["error"]
    assert (error["code"], error["request_id"]) == (code, request_id)
    entry = await connector_entry(http, seed, sales, request_id)
    assert (entry["status"], entry["status_code"]) == ("rejected", status)
    assert entry["client_request_id"] == "mine-1"
    for service in ("gateway", "matcher", "store"):
        await logged(suite, service, request_id)


async def test_an_unauthorized_stream_request_is_logged_under_the_id_it_was_shown(
    suite: Stack, http: httpx.AsyncClient
) -> None:
    answer = await http.post(
        "/api/ingest", json=SEED_BATCH, headers=key_headers(f"ik_live_{'0' * 16}_nope")
    )

    assert answer.status_code == 401
    request_id = answer.headers["x-request-id"]
    assert answer.json()["error"] == {
        "code": "UNAUTHORIZED",
        "message": answer.json()["error"]["message"],
        "request_id": request_id,
    }
    assert "x-client-request-id" not in answer.headers
    await logged(suite, "gateway", request_id, "request")
    await logged(suite, "matcher", request_id, "rpc")
    store = await logged(suite, "store", request_id, "rpc")
    assert [line["code"] for line in store] == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"fields": {"email": "not-an-email"}}', 400, "VALIDATION_FAILED"),
        (b'{"fields": {"name": "' + b"x" * (100 * 1024) + b'"}}', 413, "PAYLOAD_TOO_LARGE"),
    ],
)
async def test_a_refused_push_is_logged_under_the_id_it_was_shown(
    suite: Stack,
    http: httpx.AsyncClient,
    seed: demo.DemoSeed,
    body: bytes,
    status: int,
    code: str,
) -> None:
    answer = await http.post(
        f"/api/v1/ingest/{seed.tokens['contact']}",
        content=body,
        headers={"Content-Type": "application/json", "X-Request-Id": "mine-2"},
    )

    assert answer.status_code == status, answer.text
    request_id = answer.headers["x-request-id"]
    problem = answer.json()
    assert (problem["code"], problem["request_id"]) == (code, request_id)
    entry = await activity(http, seed, request_id)
    assert entry["status_code"] == status
    assert entry["client_request_id"] == "mine-2"
    assert entry["outcome"]["error"]["code"] == code
    for service in ("gateway", "matcher", "store"):
        await logged(suite, service, request_id)


async def test_a_replay_is_logged_under_its_own_id_and_names_the_first(
    http: httpx.AsyncClient, seed: demo.DemoSeed, sales: SalesStream
) -> None:
    headers = key_headers(sales.key, **{"Idempotency-Key": f"k-{secrets.token_hex(4)}"})
    first = await http.post("/api/ingest", json=SEED_BATCH, headers=headers)
    again = await http.post("/api/ingest", json=SEED_BATCH, headers=headers)

    assert (first.status_code, again.status_code) == (202, 202)
    first_id, again_id = first.headers["x-request-id"], again.headers["x-request-id"]
    assert again.headers["idempotency-replayed"] == "true"
    assert again_id != first_id
    # The seed's rule: the first request's answer, so its id to look the request up with.
    assert again.json()["data"]["request_id"] == first_id
    entry = await connector_entry(http, seed, sales, again_id)
    assert (entry["status"], entry["replay_of"]) == ("replayed", first_id)
