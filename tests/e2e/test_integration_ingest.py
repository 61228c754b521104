"""Integration ingest over HTTP through the gateway, on the whole suite as processes: raw
JSON by integration id (GENERIC, MAPPING with related records, the Typeform and Calendly
ready-made mappings fed their documented examples), the seed's three error bodies key by
key, Idempotency-Key, rate limit, body caps, ping, status, the activity log and webhooks."""

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
from google.protobuf import duration_pb2

from inlet.admin.v1 import admin_pb2_grpc, integrations_pb2, integrations_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo, postgres
from inlet_devstack.ports import Ports
from inlet_devstack.stack import Stack, running
from tests import external_support as ext
from tests.external_support import (
    CALENDLY_EXAMPLE,
    ORDER,
    PERSON,
    TYPEFORM_EXAMPLE,
    ProjectToken,
    finished,
    one,
    record,
    request_id_of,
    run_sql,
)
from tests.polling import until
from tests.webhook_receiver import Receiver, receiving
from tests.windows import steady_window

pytestmark = pytest.mark.e2e

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PROBLEM_KEYS = ["type", "title", "status", "detail", "code", "timestamp"]

# The seed's three error bodies (shared/seeds/svit-external-data-ingestion.txt), verbatim.
SEED_TYPE_NOT_SUPPORTED = {
    "type": "https://api-errors.svit.one/validation/integration-type-not-supported",
    "title": "Integration Type Not Supported",
    "status": 400,
    "detail": "Integration type 'OTHER' is not supported",
    "code": "INTEGRATION_TYPE_NOT_SUPPORTED",
    "timestamp": "2026-04-23T18:30:54.062Z",
}
SEED_NOT_FOUND = {
    "type": "https://api-errors.svit.one/not-found/integration",
    "title": "Integration Not Found",
    "status": 404,
    "detail": "Integration with ID integration-id not found",
    "code": "INTEGRATION_NOT_FOUND",
    "timestamp": "2026-04-23T18:30:54.062Z",
}
SEED_INTERNAL = {
    "type": "https://api-errors.svit.one/internal/server-error",
    "title": "Internal Server Error",
    "status": 500,
    "detail": "An unexpected error occurred",
    "code": "INTERNAL_SERVER_ERROR",
    "timestamp": "2026-04-23T18:30:54.062Z",
}


@pytest.fixture(scope="module")
async def suite(server_url: str) -> AsyncIterator[Stack]:
    """The suite on a database of its own (the 500 test installs a failing trigger there),
    webhooks allowed to a receiver on loopback."""
    url = postgres.create_database(server_url, f"inlet_e2e_ext_{secrets.token_hex(4)}")
    log_dir = Path(tempfile.mkdtemp(prefix="inlet-e2e-ext-"))
    env = {"INLET_WEBHOOK_ALLOW_PRIVATE": "true", "INLET_WEBHOOK_POLL_SECONDS": "0.05"}
    try:
        async with running(url, ports=Ports(0, 0, 0, 0), log_dir=log_dir, extra_env=env) as stack:
            yield stack
    finally:
        postgres.drop_database(url)


@pytest.fixture(scope="module")
async def grpc_channel(suite: Stack) -> AsyncIterator[Any]:
    async with channel(suite.address("store")) as ch:
        yield ch


@pytest.fixture(scope="module")
def integrations(grpc_channel: Any) -> integrations_pb2_grpc.IntegrationAdminServiceAsyncStub:
    return ext.stub(grpc_channel)


@pytest.fixture(scope="module")
async def seed(suite: Stack, grpc_channel: Any) -> demo.DemoSeed:
    admin = admin_pb2_grpc.AdminServiceStub(grpc_channel)
    made = await demo.seed(
        admin, bootstrap_token=suite.bootstrap_token, workspace_slug=f"x{secrets.token_hex(5)}"
    )
    await ext.ensure_type(admin, made, PERSON)
    await ext.ensure_type(admin, made, ORDER)
    return made


@pytest.fixture(scope="module")
async def token(integrations: Any, seed: demo.DemoSeed) -> ProjectToken:
    return await ext.project_token(integrations, seed)


@pytest.fixture(scope="module")
async def http(suite: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=suite.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


@pytest.fixture(scope="module")
async def hook(http: httpx.AsyncClient, seed: demo.DemoSeed, receiver: Receiver) -> str:
    """Every event of the workspace goes to the receiver at this path."""
    made = await http.post(
        f"/admin/v1/{seed.workspace}/webhookEndpoints",
        json={"url": receiver.script("/external-events")},
        headers=admin_headers(seed),
    )
    assert made.status_code == 200, made.text
    return "/external-events"


def admin_headers(seed: demo.DemoSeed) -> dict[str, str]:
    return {"Authorization": f"Bearer {seed.admin_token}"}


def ingest_url(integration_id: str) -> str:
    return f"/api/v1/external/data-ingestion/{integration_id}"


async def requests_of(suite: Stack, integration_id: str) -> int:
    """How many requests the inbox holds for an integration."""
    found: int = await one(
        suite.database_url,
        "SELECT count(*) FROM stream_requests r JOIN integrations i ON i.id = r.integration_id"
        " WHERE i.slug = %s",
        integration_id,
    )
    return found


async def activity(
    http: httpx.AsyncClient, seed: demo.DemoSeed, parent: str
) -> list[dict[str, Any]]:
    listed = await http.get(f"/admin/v1/{parent}/activityEntries", headers=admin_headers(seed))
    assert listed.status_code == 200, listed.text
    entries: list[dict[str, Any]] = listed.json().get("external_activity_entries", [])
    return entries


def assert_seed_shape(got: httpx.Response, expected: dict[str, Any]) -> None:
    """The answer is the seed's body key by key; only the timestamp may differ (its form
    is the seed's: UTC, milliseconds, Z)."""
    assert got.headers["content-type"] == "application/problem+json"
    assert got.headers["x-request-id"].startswith("req_")
    body = got.json()
    assert list(body) == PROBLEM_KEYS, body
    for key, value in expected.items():
        if key == "timestamp":
            assert TIMESTAMP.match(body[key]), body[key]
        else:
            assert body[key] == value, (key, body[key])
    assert got.status_code == expected["status"]


# -- the seed's contract ----------------------------------------------------------------------


async def test_generic_object_and_array_become_records_asynchronously(
    http: httpx.AsyncClient,
    suite: Stack,
    integrations: Any,
    seed: demo.DemoSeed,
    token: ProjectToken,
) -> None:
    await ext.integration(integrations, seed, "contacts", "GENERIC", "contact", default_region="NO")
    one_item = await http.post(
        ingest_url("contacts"),
        content=b'{"name": "Ola Nordmann", "email": "ola@acme.no", "phone": "99887766"}',
        headers=token.headers(**{"Content-Type": "application/json"}),
    )
    assert one_item.status_code == 202, one_item.text
    assert list(one_item.json()) == ["message"]
    request_id = request_id_of(one_item)
    assert one_item.headers["location"] == f"/api/v1/external/data-ingestion/requests/{request_id}"
    done = await finished(http, token, request_id)
    assert done["status"] == "completed"
    assert done["integration_id"] == "contacts"
    assert [i["action"] for i in done["items"]] == ["created"]
    created = done["items"][0]["record_id"]
    assert (await record(suite.database_url, created))["phone"] == "+4799887766"

    array = await http.post(
        ingest_url("contacts"),
        json=[
            {"email": "OLA@acme.no", "name": "Ola N."},
            {"email": "kari@acme.no"},
            {"email": "x"},
        ],
        headers=token.headers(),
    )
    assert array.status_code == 202, array.text
    status = await finished(http, token, request_id_of(array))
    assert status["items_received"] == 3
    assert status["items_failed"] == 1
    assert [i["action"] for i in status["items"]] == ["updated", "created", "failed"]
    assert status["items"][0]["record_id"] == created
    assert status["items"][0]["matched_on"] == ["email"]
    assert status["items"][2]["error"]["fields"][0]["field"] == "items[2].email"


async def test_the_body_is_stored_exactly_as_sent(
    http: httpx.AsyncClient, suite: Stack, token: ProjectToken
) -> None:
    body = b'[ {"email":"exact@acme.no",   "name": "Exact"} ]\n'
    answer = await http.post(ingest_url("contacts"), content=body, headers=token.headers())
    assert answer.status_code == 202, answer.text
    stored = await one(
        suite.database_url, "SELECT body FROM stream_requests WHERE id = %s", request_id_of(answer)
    )
    assert bytes(stored) == body


async def test_seed_error_bodies_key_by_key(
    http: httpx.AsyncClient,
    suite: Stack,
    integrations: Any,
    seed: demo.DemoSeed,
    token: ProjectToken,
) -> None:
    # 404: the seed's own id, so its detail is the seed's to the letter.
    missing = await http.post(ingest_url("integration-id"), json={}, headers=token.headers())
    assert_seed_shape(missing, SEED_NOT_FOUND)

    # 400: an integration whose stored type this release does not support. The admin API
    # refuses to make one (see test_integration_admin), so it is written as another
    # release of inlet would have left it.
    made = await ext.integration(integrations, seed, "legacy", "GENERIC", "contact")
    await one(
        suite.database_url,
        "UPDATE integrations SET type = 'OTHER' WHERE slug = %s RETURNING 1",
        made.id,
    )
    before = await requests_of(suite, "legacy")
    other = await http.post(ingest_url("legacy"), json={"email": "a@b.no"}, headers=token.headers())
    assert_seed_shape(other, SEED_TYPE_NOT_SUPPORTED)
    assert await requests_of(suite, "legacy") == before

    # 500: the database refuses the write with an error naming internals; none of it leaks.
    broken = await ext.integration(integrations, seed, "broken", "GENERIC", "contact")
    uuid = await one(
        suite.database_url, "SELECT id::text FROM integrations WHERE slug = %s", broken.id
    )
    await run_sql(
        suite.database_url,
        "CREATE FUNCTION inlet_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION 'relation stream_requests: SELECT secret_hash FROM"
        " project_tokens'; END $$;"
        " CREATE TRIGGER inlet_test_refuse BEFORE INSERT ON stream_requests FOR EACH ROW"
        f" WHEN (NEW.integration_id = '{uuid}') EXECUTE FUNCTION inlet_test_refuse();",
    )
    failed = await http.post(
        ingest_url("broken"), json={"email": "a@b.no"}, headers=token.headers()
    )
    assert_seed_shape(failed, SEED_INTERNAL)
    for leak in ("stream_requests", "SELECT", "secret", "psycopg", "Traceback", "Error("):
        assert leak not in failed.text
    entries = await activity(http, seed, f"{seed.workspace}/integrations/broken")
    assert entries[0]["status_code"] == 500
    assert entries[0]["status"] == "rejected"


async def test_the_problem_type_base_is_configurable(server_url: str) -> None:
    url = postgres.create_database(server_url, f"inlet_e2e_base_{secrets.token_hex(4)}")
    env = {"INLET_EXTERNAL_PROBLEM_BASE": "https://errors.example.com/problems/"}
    try:
        async with (
            running(url, ports=Ports(0, 0, 0, 0), extra_env=env) as stack,
            httpx.AsyncClient(base_url=stack.gateway_url) as client,
        ):
            got = await client.get("/api/v1/external/ping")
        assert got.status_code == 401
        assert (
            got.json()["type"] == "https://errors.example.com/problems/authentication/unauthorized"
        )
    finally:
        postgres.drop_database(url)


async def test_bad_inputs_are_refused_naming_the_field_and_write_nothing(
    http: httpx.AsyncClient,
    suite: Stack,
    grpc_channel: Any,
    integrations: Any,
    seed: demo.DemoSeed,
    token: ProjectToken,
) -> None:
    await ext.integration(integrations, seed, "strict", "GENERIC", "contact")
    before = await requests_of(suite, "strict")
    cases: list[tuple[dict[str, str], bytes, int, str, str | None]] = [
        ({}, b"{}", 401, "UNAUTHORIZED", "Authorization"),
        ({"Authorization": "Basic abc"}, b"{}", 401, "UNAUTHORIZED", "Authorization"),
        ({"Authorization": "Bearer pat_0123456789abcdef_nope"}, b"{}", 401, "UNAUTHORIZED", None),
        (token.headers(), b'{"email": ', 400, "MALFORMED_JSON", "body"),
        (token.headers(), b"  ", 400, "EMPTY_BODY", "body"),
        (
            token.headers(**{"Idempotency-Key": "k" * 256}),
            b"{}",
            400,
            "INVALID_IDEMPOTENCY_KEY",
            "Idempotency-Key",
        ),
    ]
    for headers, body, status, code, field in cases:
        got = await http.post(ingest_url("strict"), content=body, headers=headers)
        assert got.status_code == status, (headers, got.text)
        problem = got.json()
        assert problem["code"] == code
        assert list(problem)[:6] == PROBLEM_KEYS
        if field is not None:
            assert [e["field"] for e in problem["errors"]] == [field]
    # The token of another workspace does not see this one's integrations.
    other = await demo.seed(
        admin_pb2_grpc.AdminServiceStub(grpc_channel),
        bootstrap_token=suite.bootstrap_token,
        workspace_slug=f"y{secrets.token_hex(5)}",
    )
    foreign = await ext.project_token(integrations, other)
    got = await http.post(ingest_url("strict"), json={}, headers=foreign.headers())
    assert got.status_code == 404
    assert got.json()["detail"] == "Integration with ID strict not found"
    # A revoked token is refused.
    revoked = await ext.project_token(integrations, seed, "to revoke")
    await integrations.RevokeProjectToken(
        integrations_pb2.RevokeProjectTokenRequest(name=revoked.name), metadata=seed.auth
    )
    got = await http.post(ingest_url("strict"), json={}, headers=revoked.headers())
    assert got.status_code == 401
    assert "revoked" in got.json()["detail"]
    # A disabled integration answers 403 and takes nothing.
    await ext.update_integration(
        integrations, seed, f"{seed.workspace}/integrations/strict", ["enabled"], enabled=False
    )
    got = await http.post(ingest_url("strict"), json={"email": "a@b.no"}, headers=token.headers())
    assert got.status_code == 403
    assert got.json()["code"] == "INTEGRATION_DISABLED"
    assert await requests_of(suite, "strict") == before
    # Each refusal that named a valid token is in the integration's log.
    codes = [
        e["errors"][0]["code"]
        for e in await activity(http, seed, f"{seed.workspace}/integrations/strict")
    ]
    assert codes == [
        "INTEGRATION_DISABLED",
        "INVALID_IDEMPOTENCY_KEY",
        "EMPTY_BODY",
        "MALFORMED_JSON",
    ]


async def test_idempotency_key_replays_the_first_202_and_refuses_another_body(
    http: httpx.AsyncClient, suite: Stack, seed: demo.DemoSeed, token: ProjectToken
) -> None:
    key = {"Idempotency-Key": f"import-{secrets.token_hex(4)}"}
    first = await http.post(
        ingest_url("contacts"), json={"email": "idem@acme.no"}, headers=token.headers(**key)
    )
    assert first.status_code == 202
    first_id = request_id_of(first)
    before = await requests_of(suite, "contacts")
    # The same body, written differently: the first 202 again, processed once.
    again = await http.post(
        ingest_url("contacts"),
        content=b'{ "email" : "idem@acme.no" }',
        headers=token.headers(**key),
    )
    assert again.status_code == 202
    assert again.headers["idempotency-replayed"] == "true"
    assert first_id in again.json()["message"]
    assert again.headers["x-request-id"] != first_id
    assert await requests_of(suite, "contacts") == before
    # Another body with the key: refused, nothing stored.
    other = await http.post(
        ingest_url("contacts"), json={"email": "other@acme.no"}, headers=token.headers(**key)
    )
    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await requests_of(suite, "contacts") == before
    entries = await activity(http, seed, f"{seed.workspace}/integrations/contacts")
    replayed = next(e for e in entries if e["request_id"] == again.headers["x-request-id"])
    assert replayed["status"] == "replayed"
    assert replayed["replay_of"] == first_id


async def test_rate_limit_answers_429_with_retry_after_and_ratelimit_fields(
    http: httpx.AsyncClient,
    suite: Stack,
    integrations: Any,
    seed: demo.DemoSeed,
    token: ProjectToken,
) -> None:
    window = steady_window()
    await ext.integration(
        integrations,
        seed,
        "limited",
        "GENERIC",
        "contact",
        rate_limit=2,
        rate_window_seconds=window,
    )
    answers = [
        await http.post(
            ingest_url("limited"), json={"email": f"r{i}@acme.no"}, headers=token.headers()
        )
        for i in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[1].headers["ratelimit-remaining"] == "0"
    limited = answers[2]
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-limit"] == "2"
    assert limited.headers["ratelimit-policy"] == f"2;w={window}"
    assert limited.json()["code"] == "RATE_LIMITED"
    assert limited.json()["type"].endswith("/rate-limit/rate-limited")
    assert await requests_of(suite, "limited") == 2


async def test_body_caps_refuse_with_413_before_parsing(
    http: httpx.AsyncClient,
    suite: Stack,
    integrations: Any,
    seed: demo.DemoSeed,
    token: ProjectToken,
) -> None:
    await ext.integration(integrations, seed, "small", "GENERIC", "contact", max_body_bytes=64)
    # Over the integration's own cap (and not even JSON: it is not read).
    got = await http.post(ingest_url("small"), content=b"x" * 65, headers=token.headers())
    assert got.status_code == 413
    assert got.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert "64 bytes" in got.json()["detail"]
    at_cap = b'{"email": "' + b"a" * 46 + b'@b.no"}'
    assert len(at_cap) == 64
    exactly = await http.post(ingest_url("small"), content=at_cap, headers=token.headers())
    assert exactly.status_code == 202, exactly.text
    # Over 1 MiB: refused at the edge, and still logged against the integration.
    huge = await http.post(
        ingest_url("small"), content=b"[" + b" " * (1024 * 1024) + b"]", headers=token.headers()
    )
    assert huge.status_code == 413
    assert huge.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert await requests_of(suite, "small") == 1
    entries = await activity(http, seed, f"{seed.workspace}/integrations/small")
    assert [e["status_code"] for e in entries] == [413, 202, 413]


async def test_ping_answers_pong_to_a_project_token_only(
    http: httpx.AsyncClient, seed: demo.DemoSeed, token: ProjectToken
) -> None:
    pong = await http.get("/api/v1/external/ping", headers=token.headers())
    assert pong.status_code == 200
    assert pong.text == "Pong"
    assert pong.headers["content-type"].startswith("text/plain")
    for headers in ({}, {"Authorization": "Bearer pat_0123456789abcdef_wrong"}):
        refused = await http.get("/api/v1/external/ping", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["code"] == "UNAUTHORIZED"
    pings = [e for e in await activity(http, seed, token.name) if e["route"] == "ping"]
    assert pings[0]["request_id"] == pong.headers["x-request-id"]
    assert pings[0]["status"] == "answered"


async def test_status_is_token_scoped(
    http: httpx.AsyncClient,
    suite: Stack,
    grpc_channel: Any,
    integrations: Any,
    token: ProjectToken,
) -> None:
    answer = await http.post(
        ingest_url("contacts"), json={"email": "s@acme.no"}, headers=token.headers()
    )
    request_id = request_id_of(answer)
    await finished(http, token, request_id)
    unknown = await http.get(
        "/api/v1/external/data-ingestion/requests/req_unknown", headers=token.headers()
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "REQUEST_NOT_FOUND"
    assert unknown.json()["type"].endswith("/not-found/request")
    anonymous = await http.get(f"/api/v1/external/data-ingestion/requests/{request_id}")
    assert anonymous.status_code == 401
    other = await demo.seed(
        admin_pb2_grpc.AdminServiceStub(grpc_channel),
        bootstrap_token=suite.bootstrap_token,
        workspace_slug=f"z{secrets.token_hex(5)}",
    )
    foreign = await ext.project_token(integrations, other)
    got = await http.get(
        f"/api/v1/external/data-ingestion/requests/{request_id}", headers=foreign.headers()
    )
    assert got.status_code == 404


async def test_a_rotated_token_keeps_working_for_its_grace_period(
    http: httpx.AsyncClient, integrations: Any, seed: demo.DemoSeed
) -> None:
    old = await ext.project_token(integrations, seed, "rotating")
    rotated = await integrations.RotateProjectToken(
        integrations_pb2.RotateProjectTokenRequest(
            name=old.name, grace_period=duration_pb2.Duration(seconds=3600)
        ),
        metadata=seed.auth,
    )
    new = ProjectToken(rotated.project_token.name, rotated.secret)
    assert rotated.previous.HasField("expire_time")
    for current in (old, new):
        assert (
            await http.get("/api/v1/external/ping", headers=current.headers())
        ).status_code == 200
    again = await integrations.RotateProjectToken(
        integrations_pb2.RotateProjectTokenRequest(name=new.name), metadata=seed.auth
    )
    assert (await http.get("/api/v1/external/ping", headers=new.headers())).status_code == 401
    newest = ProjectToken(again.project_token.name, again.secret)
    assert (await http.get("/api/v1/external/ping", headers=newest.headers())).status_code == 200


# -- mappings ---------------------------------------------------------------------------------

ORDERS = {
    "shop": {"country": "NO"},
    "orders": [
        {
            "id": 1001,
            "total": 499.90,
            "created": "03.04.2026 14:05",
            "customer": {
                "name": " Kari Nordmann ",
                "email": "KARI@Example.no",
                "phone": "912 34 567",
            },
        },
        {
            "id": 1002,
            "total": 120,
            "created": "04.04.2026 09:30",
            "customer": {"name": "Ola Nordmann", "email": "ola@example.no"},
        },
        {
            "id": 1003,
            "total": 75.5,
            "created": "05.04.2026 10:00",
            "customer": {"name": "Kari Nordmann", "email": "kari@example.no"},
        },
    ],
}
ORDER_MAPPING = {
    "items": "/orders",
    "fields": {
        "number": {"pointer": "/id", "transforms": ["string"]},
        "total": "/total",
        "placed_at": {"pointer": "/created", "transforms": [{"date": "%d.%m.%Y %H:%M"}]},
        "channel": {"constant": "webshop"},
    },
    "related": {
        "customer": {
            "fields": {
                "email": {"pointer": "/customer/email", "transforms": ["trim", "lower"]},
                "name": {"pointer": "/customer/name", "transforms": ["trim"]},
                "first_name": {"pointer": "/customer/name", "transforms": ["first_name"]},
                "last_name": {"pointer": "/customer/name", "transforms": ["last_name"]},
                "phone": {"pointer": "/customer/phone", "transforms": [{"phone": "NO"}]},
            }
        }
    },
}


async def test_mapping_turns_nested_orders_into_records_and_related_records(
    http: httpx.AsyncClient,
    suite: Stack,
    integrations: Any,
    seed: demo.DemoSeed,
    token: ProjectToken,
    receiver: Receiver,
    hook: str,
) -> None:
    await ext.integration(integrations, seed, "orders", "MAPPING", "order", mapping=ORDER_MAPPING)
    # 499.90 stays 499.90: the body is sent as text and never re-encoded.
    body = json.dumps(ORDERS).replace("499.9", "499.90").encode()
    answer = await http.post(ingest_url("orders"), content=body, headers=token.headers())
    assert answer.status_code == 202, answer.text
    request_id = request_id_of(answer)
    status = await finished(http, token, request_id)
    assert status["items_received"] == 3
    items = status["items"]
    assert [i["action"] for i in items] == ["created", "created", "created"]
    customers = [i["related"]["customer"] for i in items]
    assert [c["action"] for c in customers] == ["created", "created", "updated"]
    assert customers[2]["id"] == customers[0]["id"]
    assert customers[2]["matched_on"] == ["email"]
    first = await record(suite.database_url, items[0]["record_id"])
    assert first == {
        "number": "1001",
        "total": 499.90,
        "placed_at": "2026-04-03T14:05:00Z",
        "channel": "webshop",
        "customer": customers[0]["id"],
    }
    text = await one(
        suite.database_url, "SELECT data::text FROM records WHERE id = %s", items[0]["record_id"]
    )
    assert '"total":499.90' in text.replace(" ", "")
    kari = await record(suite.database_url, customers[0]["id"])
    assert kari == {
        "email": "kari@example.no",
        "name": "Kari Nordmann",
        "first_name": "Kari",
        "last_name": "Nordmann",
        "phone": "+4791234567",
    }
    # Webhooks: every record written carries the request's id and the integration.
    payloads: list[Any] = []

    async def arrived() -> bool:
        payloads[:] = [
            json.loads(r.body)
            for r in receiver.at(hook)
            if json.loads(r.body)["data"].get("request_id") == request_id
        ]
        return len(payloads) >= 7

    await until(arrived)
    kinds = sorted(p["type"] for p in payloads)
    assert kinds == ["record.created"] * 5 + ["record.updated", "request.completed"]
    for p in payloads:
        if p["type"].startswith("record."):
            assert p["data"]["source"] == {
                "type": "integration",
                "id": "orders",
                "request_id": request_id,
            }
    done = next(p for p in payloads if p["type"] == "request.completed")
    assert done["data"]["integration"] == "orders"
    assert done["data"]["status"] == "completed"


async def test_a_mapping_item_that_does_not_fit_fails_alone_naming_its_field(
    http: httpx.AsyncClient, token: ProjectToken
) -> None:
    body = {
        "orders": [
            {"id": 1, "created": "not a date"},
            {"id": 2, "customer": {"email": "nope"}},
            {"id": 3},
        ]
    }
    answer = await http.post(ingest_url("orders"), json=body, headers=token.headers())
    status = await finished(http, token, request_id_of(answer))
    assert [i["action"] for i in status["items"]] == ["failed", "failed", "created"]
    assert status["items"][0]["error"]["fields"][0] == {
        "field": "items[0].placed_at",
        "code": "INVALID_DATETIME",
        "message": "'not a date' does not match the date format '%d.%m.%Y %H:%M'",
    }
    assert status["items"][1]["error"]["fields"][0]["field"] == "items[1].related.customer.email"
    missing = await http.post(ingest_url("orders"), json={"no_orders": []}, headers=token.headers())
    status = await finished(http, token, request_id_of(missing))
    assert status["status"] == "failed"
    assert status["items"][0]["error"]["code"] == "INVALID_BODY"
    assert status["items"][0]["error"]["fields"][0]["code"] == "NO_ITEMS"


async def test_typeform_documented_example_becomes_a_person(
    http: httpx.AsyncClient,
    suite: Stack,
    integrations: Any,
    seed: demo.DemoSeed,
    token: ProjectToken,
) -> None:
    await ext.integration(integrations, seed, "typeform", "TYPEFORM", "person")
    answer = await http.post(ingest_url("typeform"), json=TYPEFORM_EXAMPLE, headers=token.headers())
    status = await finished(http, token, request_id_of(answer))
    assert [i["action"] for i in status["items"]] == ["created"], status
    person = await record(suite.database_url, status["items"][0]["record_id"])
    assert person == {"email": "laura@example.com", "name": "Laura"}
    # A mapping of its own reads the same flat document: answers by field ref, hidden fields.
    await ext.integration(
        integrations,
        seed,
        "typeform-refs",
        "TYPEFORM",
        "person",
        mapping={
            "fields": {
                "email": "/answers/readable_ref_email",
                "first_name": "/answers/readable_ref_short_text",
                "timezone": {"pointer": "/hidden/tz", "default": "Europe/Oslo"},
            }
        },
    )
    answer = await http.post(
        ingest_url("typeform-refs"), json=TYPEFORM_EXAMPLE, headers=token.headers()
    )
    status = await finished(http, token, request_id_of(answer))
    assert status["items"][0]["action"] == "updated"
    person = await record(suite.database_url, status["items"][0]["record_id"])
    assert person["first_name"] == "Laura"
    assert person["timezone"] == "Europe/Oslo"
    # Another Typeform event is not a submission.
    other = await http.post(
        ingest_url("typeform"),
        json={**TYPEFORM_EXAMPLE, "event_type": "form_response_partial"},
        headers=token.headers(),
    )
    status = await finished(http, token, request_id_of(other))
    assert status["items"][0]["error"]["fields"][0]["code"] == "EVENT_NOT_SUPPORTED"


async def test_calendly_documented_example_becomes_a_person(
    http: httpx.AsyncClient,
    suite: Stack,
    integrations: Any,
    seed: demo.DemoSeed,
    token: ProjectToken,
) -> None:
    await ext.integration(integrations, seed, "calendly", "CALENDLY", "person")
    answer = await http.post(ingest_url("calendly"), json=CALENDLY_EXAMPLE, headers=token.headers())
    status = await finished(http, token, request_id_of(answer))
    assert [i["action"] for i in status["items"]] == ["created"], status
    person = await record(suite.database_url, status["items"][0]["record_id"])
    assert person == {
        "email": "test@example.com",
        "name": "John Doe",
        "first_name": "John",
        "last_name": "Doe",
        "timezone": "America/New_York",
    }
    routing = {**CALENDLY_EXAMPLE, "event": "routing_form_submission.created"}
    other = await http.post(ingest_url("calendly"), json=routing, headers=token.headers())
    status = await finished(http, token, request_id_of(other))
    error = status["items"][0]["error"]
    assert status["status"] == "failed"
    assert error["fields"][0]["field"] == "event"


async def test_activity_log_shows_every_request_that_named_a_valid_token(
    http: httpx.AsyncClient, seed: demo.DemoSeed, token: ProjectToken
) -> None:
    entries = await activity(http, seed, token.name)
    routes = {e["route"] for e in entries}
    assert {"data_ingestion", "ping", "status"} <= routes
    unknown = next(
        e for e in entries if e.get("errors") and e["errors"][0]["code"] == "INTEGRATION_NOT_FOUND"
    )
    assert unknown["status_code"] == 404
    assert "integration" not in unknown
    failed_items = next(
        e for e in entries if e["route"] == "data_ingestion" and e.get("items_failed")
    )
    assert failed_items["errors"][0]["index"] >= 0
    assert failed_items["status"] in (
        "completed",
        "failed",
    )
