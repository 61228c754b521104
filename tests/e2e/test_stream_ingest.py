"""Stream ingest over HTTP through the gateway: the seed's examples, its error table,
Idempotency-Key replay/409/422, a batch with one bad item, and status polling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from inlet_store.inbox import body_hash
from tests.stream_support import SEED_BATCH, SEED_SINGLE, SalesStream, sales_stream, until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
async def streams_admin(stack: Stack) -> AsyncIterator[Any]:
    async with channel(stack.address("store")) as ch:
        yield streams_pb2_grpc.StreamAdminServiceStub(ch)


@pytest.fixture
async def sales(
    admin: admin_pb2_grpc.AdminServiceAsyncStub, streams_admin: Any, seeded: DemoSeed
) -> SalesStream:
    return await sales_stream(admin, streams_admin, seeded)


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers}


async def completed(http: httpx.AsyncClient, key: str, request_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        got = await http.get(f"/api/ingest/requests/{request_id}", headers=auth(key))
        assert got.status_code == 200, got.text
        data: dict[str, Any] = got.json()["data"]
        return data if data["status"] in ("completed", "failed") else None

    found: dict[str, Any] = await until(check)
    return found


async def test_seed_single_item(http: httpx.AsyncClient, sales: SalesStream) -> None:
    answer = await http.post("/api/ingest", json=SEED_SINGLE, headers=auth(sales.key))
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
    status = await completed(http, sales.key, body["data"]["request_id"])
    assert status["status"] == "completed"
    assert status["items"][0]["action"] == "created"


async def test_seed_batch_with_item_key_then_update(
    http: httpx.AsyncClient, sales: SalesStream
) -> None:
    headers = auth(sales.key, **{"X-Item-Key": "region"})
    first = await http.post("/api/ingest", json=SEED_BATCH, headers=headers)
    assert first.status_code == 202
    assert first.json()["data"]["items_received"] == 3
    done = await completed(http, sales.key, first.json()["data"]["request_id"])
    assert [i["action"] for i in done["items"]] == ["created", "created", "created"]
    assert [i["index"] for i in done["items"]] == [0, 1, 2]
    again = await http.post(
        "/api/ingest", json=[{"region": "South", "revenue": 99000}], headers=headers
    )
    redone = await completed(http, sales.key, again.json()["data"]["request_id"])
    assert redone["items"][0]["action"] == "updated"
    assert redone["items"][0]["record_id"] == done["items"][1]["record_id"]
    assert redone["items"][0]["matched_on"] == ["region"]


async def test_batch_with_one_bad_item(http: httpx.AsyncClient, sales: SalesStream) -> None:
    batch = [*SEED_BATCH, {"region": "West", "revenue": "a lot"}]
    answer = await http.post("/api/ingest", json=batch, headers=auth(sales.key))
    assert answer.status_code == 202
    status = await completed(http, sales.key, answer.json()["data"]["request_id"])
    assert status["items_failed"] == 1
    assert [i["action"] for i in status["items"]] == ["created"] * 3 + ["failed"]
    error = status["items"][3]["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert error["fields"][0]["field"] == "items[3].revenue"


async def test_error_400_invalid_payload(http: httpx.AsyncClient, sales: SalesStream) -> None:
    for body in (b'{"region": ', b'"just text"', b"[1, 2]"):
        answer = await http.post("/api/ingest", content=body, headers=auth(sales.key))
        assert answer.status_code == 400, body
        envelope = answer.json()
        assert envelope["success"] is False
        assert envelope["error"]["code"] == "INVALID_PAYLOAD"
        assert envelope["error"]["message"]
    missing = await http.post(
        "/api/ingest",
        json=[{"region": "A"}, {"revenue": 1}],
        headers=auth(sales.key, **{"X-Item-Key": "region"}),
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
        "/api/ingest", params={"stream": "marketing"}, json=SEED_SINGLE, headers=auth(sales.key)
    )
    by_header = await http.post(
        "/api/ingest", json=SEED_SINGLE, headers=auth(sales.key, **{"X-Stream": "marketing"})
    )
    for answer in (by_query, by_header):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "STREAM_NOT_FOUND"


async def test_error_413_payload_too_large(http: httpx.AsyncClient, sales: SalesStream) -> None:
    big = orjson.dumps([{"region": "x" * 1000}] * 1100)
    assert len(big) > 1024 * 1024
    answer = await http.post("/api/ingest", content=big, headers=auth(sales.key))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "1 MB" in answer.json()["error"]["message"]
    anonymous = await http.post("/api/ingest", content=big)
    assert anonymous.status_code == 401  # the key is checked first, then the size


async def test_edge_rejections_are_logged_against_the_key(
    http: httpx.AsyncClient, sales: SalesStream, seeded: DemoSeed
) -> None:
    await http.post("/api/ingest", content=b"{nope", headers=auth(sales.key))
    big = orjson.dumps([{"region": "x" * 1000}] * 1100)
    await http.post("/api/ingest", content=big, headers=auth(sales.key))
    log = await http.get(
        f"/admin/v1/{sales.name}/connectorLogEntries",
        headers={"Authorization": f"Bearer {seeded.admin_token}"},
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
    streams_admin: Any,
    seeded: DemoSeed,
) -> None:
    limited = await sales_stream(admin, streams_admin, seeded, rate_limit=1, rate_window_seconds=60)
    ok = await http.post("/api/ingest", json=SEED_SINGLE, headers=auth(limited.key))
    assert ok.status_code == 202
    assert ok.headers["RateLimit-Limit"] == "1"
    assert ok.headers["RateLimit-Remaining"] == "0"
    refused = await http.post("/api/ingest", json=SEED_SINGLE, headers=auth(limited.key))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) >= 1


async def test_idempotency_replay_409_and_422(
    http: httpx.AsyncClient, sales: SalesStream, stack: Stack
) -> None:
    headers = auth(sales.key, **{"Idempotency-Key": "sale-update-20260406-103000"})
    first = await http.post("/api/ingest", json=SEED_BATCH, headers=headers)
    replay = await http.post("/api/ingest", json=SEED_BATCH, headers=headers)
    assert first.status_code == replay.status_code == 202
    assert replay.json() == first.json()
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert "Idempotency-Replayed" not in first.headers
    other = await http.post("/api/ingest", json=SEED_SINGLE, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    await completed(http, sales.key, first.json()["data"]["request_id"])

    # A first request still being accepted holds its key: the repeat is told 409.
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO stream_idempotency_keys (stream_id, idempotency_key, body_hash,"
            " request_id, expire_time) SELECT id, 'in-flight', %s, 'req_x',"
            " now() + interval '1 day' FROM streams WHERE slug = %s",
            (body_hash([SEED_SINGLE], True, ""), sales.slug),
        )
    busy = await http.post(
        "/api/ingest", json=SEED_SINGLE, headers=auth(sales.key, **{"Idempotency-Key": "in-flight"})
    )
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"


async def test_status_of_unknown_request(http: httpx.AsyncClient, sales: SalesStream) -> None:
    answer = await http.get("/api/ingest/requests/req_nope", headers=auth(sales.key))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "REQUEST_NOT_FOUND"


async def test_stream_admin_over_http(
    http: httpx.AsyncClient, sales: SalesStream, seeded: DemoSeed
) -> None:
    admin_headers = {"Authorization": f"Bearer {seeded.admin_token}"}
    await http.post("/api/ingest", json=SEED_SINGLE, headers=auth(sales.key))
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
    still = await http.post("/api/ingest", json=SEED_SINGLE, headers=auth(sales.key))
    assert still.status_code == 202
