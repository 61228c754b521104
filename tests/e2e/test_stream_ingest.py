"""Stream ingest over HTTP through the gateway: the seed's examples, its error table (every
400 judged before the 202, naming each bad field), Idempotency-Key replay (also of another
body) and 409, lookup-dependent item failures after the 202, and status polling."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import psycopg
import pytest

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2_grpc
from inlet_devstack import demo
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from inlet_store.inbox import body_hash
from tests.messages import bearer_header, key_headers
from tests.stream_support import (
    MEMBER,
    SEED_BATCH,
    SEED_SINGLE,
    SalesStream,
    finished_over_http,
    sales_stream,
)
from tests.windows import steady_window

pytestmark = pytest.mark.e2e


@pytest.fixture
async def sales(
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    seeded: DemoSeed,
) -> SalesStream:
    return await sales_stream(admin, streams_admin, seeded)


async def test_seed_single_item(http: httpx.AsyncClient, sales: SalesStream) -> None:
    answer = await http.post("/api/ingest", json=SEED_SINGLE, headers=key_headers(sales.key))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body == {
        "success": True,
        "data": {
            "stream": sales.slug,
            "items_received": 1,
            "request_id": body["data"]["request_id"],
        },
    }
    assert body["data"]["request_id"].startswith("req_")
    status = await finished_over_http(http, sales.key, body["data"]["request_id"])
    assert status["status"] == "completed"
    assert status["items"][0]["action"] == "created"


async def test_seed_batch_with_item_key_then_update(
    http: httpx.AsyncClient, sales: SalesStream
) -> None:
    headers = key_headers(sales.key, **{"X-Item-Key": "region"})
    first = await http.post("/api/ingest", json=SEED_BATCH, headers=headers)
    assert first.status_code == 202
    assert first.json()["data"]["items_received"] == 3
    done = await finished_over_http(http, sales.key, first.json()["data"]["request_id"])
    assert [i["action"] for i in done["items"]] == ["created", "created", "created"]
    assert [i["index"] for i in done["items"]] == [0, 1, 2]
    again = await http.post(
        "/api/ingest", json=[{"region": "South", "revenue": 99000}], headers=headers
    )
    redone = await finished_over_http(http, sales.key, again.json()["data"]["request_id"])
    assert redone["items"][0]["action"] == "updated"
    assert redone["items"][0]["record_id"] == done["items"][1]["record_id"]
    assert redone["items"][0]["matched_on"] == ["region"]


async def stored(stack: Stack, stream: SalesStream) -> tuple[int, int]:
    """(requests, records) the store holds for a stream and its entity type."""
    async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM stream_requests r JOIN streams s ON s.id = r.stream_id"
            " WHERE s.slug = %s), (SELECT count(*) FROM records WHERE entity_type_id = %s)",
            (stream.slug, stream.entity_type_id),
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


async def connector_log(
    http: httpx.AsyncClient, seeded: DemoSeed, stream: SalesStream
) -> list[dict[str, Any]]:
    log = await http.get(
        f"/admin/v1/{stream.name}/connectorLogEntries",
        headers=bearer_header(seeded.admin_token),
    )
    assert log.status_code == 200, log.text
    entries: list[dict[str, Any]] = log.json()["connector_log_entries"]
    return entries


async def test_lookup_dependent_failures_are_item_outcomes_after_the_202(
    http: httpx.AsyncClient,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    seeded: DemoSeed,
) -> None:
    members = await sales_stream(admin, streams_admin, seeded, entity_type=MEMBER)
    first = await http.post(
        "/api/ingest",
        json={"email": "kari@acme.no", "name": "Kari"},
        headers=key_headers(members.key),
    )
    await finished_over_http(http, members.key, first.json()["data"]["request_id"])
    batch = [{"email": "KARI@acme.no"}, {"email": "new@acme.no"}]
    answer = await http.post("/api/ingest", json=batch, headers=key_headers(members.key))
    assert answer.status_code == 202, answer.text
    status = await finished_over_http(http, members.key, answer.json()["data"]["request_id"])
    assert [i["action"] for i in status["items"]] == ["updated", "failed"]
    error = status["items"][1]["error"]
    assert error["code"] == "REQUIRED_FIELD_MISSING"
    assert error["fields"][0]["field"] == "items[1].name"
    # A reference to a record that does not exist is found only by looking.
    deals = await sales_stream(admin, streams_admin, seeded, entity_type=demo.DEMO_TYPES[2])
    dangling = {"title": "Lost", "contact": "00000000-0000-0000-0000-000000000000"}
    answer = await http.post("/api/ingest", json=dangling, headers=key_headers(deals.key))
    assert answer.status_code == 202, answer.text
    status = await finished_over_http(http, deals.key, answer.json()["data"]["request_id"])
    assert status["status"] == "failed"
    assert status["items"][0]["error"]["code"] == "UNKNOWN_REFERENCE"


@pytest.mark.parametrize(
    ("body", "headers", "fields"),
    [
        ({"region": "North", "colour": "red"}, {}, [("body.colour", "UNKNOWN_FIELD")]),
        ({"region": "North", "revenue": "a lot"}, {}, [("body.revenue", "INVALID_TYPE")]),
        ({"region": ["North"]}, {}, [("body.region", "INVALID_TYPE")]),
        (
            [{"region": "North"}, {"revenue": 1}],
            {"X-Item-Key": "region"},
            [("items[1].region", "EMPTY_ITEM_KEY")],
        ),
        (
            [{"region": ""}, {"region": None}],
            {"X-Item-Key": "region"},
            [("items[0].region", "EMPTY_ITEM_KEY"), ("items[1].region", "EMPTY_ITEM_KEY")],
        ),
        ({"region": "North"}, {"X-Item-Key": "colour"}, [("X-Item-Key", "UNKNOWN_FIELD")]),
        (
            [{"region": "A"}, {"region": "B", "revenue": "x"}, 7, {"region": 1, "target": []}],
            {},
            [
                ("items[1].revenue", "INVALID_TYPE"),
                ("items[2]", "INVALID_TYPE"),
                ("items[3].region", "INVALID_TYPE"),
                ("items[3].target", "INVALID_TYPE"),
            ],
        ),
    ],
    ids=[
        "unknown-field",
        "wrong-type",
        "array-for-text",
        "item-key-missing",
        "item-key-empty",
        "item-key-no-field",
        "several-items",
    ],
)
async def test_a_bad_item_is_400_before_the_202_naming_each_field(
    http: httpx.AsyncClient,
    sales: SalesStream,
    seeded: DemoSeed,
    stack: Stack,
    body: Any,
    headers: dict[str, str],
    fields: list[tuple[str, str]],
) -> None:
    answer = await http.post("/api/ingest", json=body, headers=key_headers(sales.key, **headers))
    assert answer.status_code == 400, answer.text
    envelope = answer.json()
    assert envelope["success"] is False
    error = envelope["error"]
    assert error["code"] == "INVALID_PAYLOAD"
    assert [(d["field"], d["code"]) for d in error["details"]] == fields
    assert all(d["message"] for d in error["details"])
    assert fields[0][0] in error["message"]
    assert error["request_id"] == answer.headers["x-request-id"]
    assert await stored(stack, sales) == (0, 0)
    [entry] = await connector_log(http, seeded, sales)
    assert (entry["request_id"], entry["status"], entry["status_code"]) == (
        answer.headers["x-request-id"],
        "rejected",
        400,
    )
    assert [(f["field"], f["code"]) for f in entry["errors"][0]["fields"]] == fields


async def test_bad_emails_and_phones_are_400_before_the_202(
    http: httpx.AsyncClient,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    seeded: DemoSeed,
    stack: Stack,
) -> None:
    contacts = await sales_stream(admin, streams_admin, seeded, entity_type=demo.DEMO_TYPES[0])
    batch = [
        {"email": "ok@acme.no", "phone": "412-34-567"},  # normalised, never refused
        {"email": "ola@"},
        {"phone": "not a number"},
        {"email": "kari@acme.no", "phone": "+47 400 00 000"},
    ]
    answer = await http.post("/api/ingest", json=batch, headers=key_headers(contacts.key))
    assert answer.status_code == 400, answer.text
    details = answer.json()["error"]["details"]
    assert [(d["field"], d["code"]) for d in details] == [
        ("items[1].email", "INVALID_EMAIL"),
        ("items[2].phone", "INVALID_PHONE"),
    ]
    assert await stored(stack, contacts) == (0, 0)
    [entry] = await connector_log(http, seeded, contacts)
    assert (entry["status"], entry["status_code"]) == ("rejected", 400)
    fixed = await http.post(
        "/api/ingest", json=[batch[0], batch[3]], headers=key_headers(contacts.key)
    )
    assert fixed.status_code == 202, fixed.text


async def test_error_400_invalid_payload(http: httpx.AsyncClient, sales: SalesStream) -> None:
    for body in (b'{"region": ', b'"just text"', b"[1, 2]"):
        answer = await http.post("/api/ingest", content=body, headers=key_headers(sales.key))
        assert answer.status_code == 400, body
        envelope = answer.json()
        assert envelope["success"] is False
        assert envelope["error"]["code"] == "INVALID_PAYLOAD"
        assert envelope["error"]["message"]
    missing = await http.post(
        "/api/ingest",
        json=[{"region": "A"}, {"revenue": 1}],
        headers=key_headers(sales.key, **{"X-Item-Key": "region"}),
    )
    assert missing.status_code == 400
    assert "items[1]" in missing.json()["error"]["message"]


async def test_error_401_unauthorized(http: httpx.AsyncClient, sales: SalesStream) -> None:
    for headers in ({}, {"Authorization": "Bearer ik_live_nope"}, {"Authorization": sales.key}):
        answer = await http.post("/api/ingest", json=SEED_SINGLE, headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {
            "success": False,
            "error": {
                "code": "UNAUTHORIZED",
                "message": answer.json()["error"]["message"],
                "request_id": answer.headers["x-request-id"],
            },
        }
        assert sales.key not in answer.text


async def test_error_404_stream_not_found(http: httpx.AsyncClient, sales: SalesStream) -> None:
    by_query = await http.post(
        "/api/ingest",
        params={"stream": "marketing"},
        json=SEED_SINGLE,
        headers=key_headers(sales.key),
    )
    by_header = await http.post(
        "/api/ingest", json=SEED_SINGLE, headers=key_headers(sales.key, **{"X-Stream": "marketing"})
    )
    for answer in (by_query, by_header):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "STREAM_NOT_FOUND"


async def test_error_413_payload_too_large(http: httpx.AsyncClient, sales: SalesStream) -> None:
    big = orjson.dumps([{"region": "x" * 1000}] * 1100)
    assert len(big) > 1024 * 1024
    answer = await http.post("/api/ingest", content=big, headers=key_headers(sales.key))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "1 MB" in answer.json()["error"]["message"]
    anonymous = await http.post("/api/ingest", content=big)
    assert anonymous.status_code == 401  # the key is checked first, then the size


async def test_edge_rejections_are_logged_against_the_key(
    http: httpx.AsyncClient, sales: SalesStream, seeded: DemoSeed
) -> None:
    await http.post("/api/ingest", content=b"{nope", headers=key_headers(sales.key))
    big = orjson.dumps([{"region": "x" * 1000}] * 1100)
    await http.post("/api/ingest", content=big, headers=key_headers(sales.key))
    log = await http.get(
        f"/admin/v1/{sales.name}/connectorLogEntries",
        headers=bearer_header(seeded.admin_token),
    )
    entries = log.json()["connector_log_entries"]
    assert [(e["status"], e["status_code"]) for e in entries] == [
        ("rejected", 413),
        ("rejected", 400),
    ]
    assert entries[1]["errors"][0]["code"] == "INVALID_PAYLOAD"


async def test_error_429_rate_limited(
    http: httpx.AsyncClient,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    seeded: DemoSeed,
) -> None:
    window = steady_window()
    limited = await sales_stream(
        admin, streams_admin, seeded, rate_limit=1, rate_window_seconds=window
    )
    ok = await http.post("/api/ingest", json=SEED_SINGLE, headers=key_headers(limited.key))
    assert ok.status_code == 202
    assert ok.headers["RateLimit-Limit"] == "1"
    assert ok.headers["RateLimit-Remaining"] == "0"
    refused = await http.post("/api/ingest", json=SEED_SINGLE, headers=key_headers(limited.key))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= window
    assert refused.headers["RateLimit-Policy"] == f"1;w={window}"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) >= 1


async def test_idempotency_replay_and_409(
    http: httpx.AsyncClient, sales: SalesStream, stack: Stack
) -> None:
    headers = key_headers(sales.key, **{"Idempotency-Key": "sale-update-20260406-103000"})
    first = await http.post("/api/ingest", json=SEED_BATCH, headers=headers)
    replay = await http.post("/api/ingest", json=SEED_BATCH, headers=headers)
    assert first.status_code == replay.status_code == 202
    assert replay.json() == first.json()
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert "Idempotency-Replayed" not in first.headers
    await finished_over_http(http, sales.key, first.json()["data"]["request_id"])

    # A first request still being accepted holds its key: the repeat is told 409.
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO stream_idempotency_keys (scope_id, idempotency_key, body_hash,"
            " request_id, expire_time) SELECT id, 'in-flight', %s, 'req_x',"
            " now() + interval '1 day' FROM streams WHERE slug = %s",
            (body_hash([SEED_SINGLE], True, ""), sales.slug),
        )
    busy = await http.post(
        "/api/ingest",
        json=SEED_SINGLE,
        headers=key_headers(sales.key, **{"Idempotency-Key": "in-flight"}),
    )
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"


@pytest.mark.parametrize(
    "changed",
    [
        SEED_SINGLE,  # other items
        [{"region": "North", "revenue": 1, "colour": "red"}],  # items that would be a 400
        "not items",  # JSON that is not items at all
    ],
    ids=["other-items", "invalid-items", "not-items"],
)
async def test_the_same_key_with_a_changed_body_answers_the_first_202(
    http: httpx.AsyncClient, sales: SalesStream, seeded: DemoSeed, stack: Stack, changed: Any
) -> None:
    headers = key_headers(sales.key, **{"Idempotency-Key": "sale-update-20260406-103000"})
    first = await http.post("/api/ingest", json=SEED_BATCH, headers=headers)
    assert first.status_code == 202, first.text
    await finished_over_http(http, sales.key, first.json()["data"]["request_id"])

    again = await http.post("/api/ingest", json=changed, headers=headers)

    assert again.status_code == 202, again.text
    assert again.json() == first.json()  # the first request's id, stream and item count
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.headers["x-request-id"] != first.json()["data"]["request_id"]
    assert await stored(stack, sales) == (1, 3)  # not reprocessed
    replayed, accepted = await connector_log(http, seeded, sales)
    assert replayed["request_id"] == again.headers["x-request-id"]
    assert (replayed["status"], replayed["status_code"]) == ("replayed", 202)
    assert replayed["replay_of"] == first.json()["data"]["request_id"]
    assert replayed["body_differed"] is True
    assert accepted.get("body_differed", False) is False


async def test_status_of_unknown_request(http: httpx.AsyncClient, sales: SalesStream) -> None:
    answer = await http.get("/api/ingest/requests/req_nope", headers=key_headers(sales.key))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "REQUEST_NOT_FOUND"


async def test_stream_admin_over_http(
    http: httpx.AsyncClient, sales: SalesStream, seeded: DemoSeed
) -> None:
    admin_headers = bearer_header(seeded.admin_token)
    await http.post("/api/ingest", json=SEED_SINGLE, headers=key_headers(sales.key))
    log = await http.get(f"/admin/v1/{sales.name}/connectorLogEntries", headers=admin_headers)
    assert log.status_code == 200, log.text
    [entry] = log.json()["connector_log_entries"]
    assert entry["status_code"] == 202
    assert entry["items_received"] == 1
    keys = await http.get(f"/admin/v1/{sales.name}/ingestKeys", headers=admin_headers)
    assert keys.status_code == 200
    assert keys.json()["ingest_keys"][0]["prefix"].startswith("ik_live_")
    denied = await http.get(f"/admin/v1/{sales.name}/ingestKeys")
    assert denied.status_code == 401
    # A body the edge refuses never acts: the key is not revoked.
    broken = await http.post(
        f"/admin/v1/{sales.key_name}:revoke", content=b"{", headers=admin_headers
    )
    assert broken.status_code == 400
    still = await http.post("/api/ingest", json=SEED_SINGLE, headers=key_headers(sales.key))
    assert still.status_code == 202
