"""Live data for connected clients over HTTP (Server-Sent Events) and gRPC: a stream's read
key, its current items, the feed with Last-Event-ID resume, and every bad credential."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2, streams_pb2_grpc
from inlet.ingest.v1 import feed_pb2, feed_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack.demo import DemoSeed, bearer
from inlet_devstack.stack import Stack
from inlet_store import app as store_app
from inlet_store.retention import Janitor, Retention
from tests.feed_support import Events, FedStream, fed_stream, read_headers
from tests.messages import key_headers
from tests.stream_support import SEED_BATCH, finished_over_http

pytestmark = pytest.mark.e2e


@pytest.fixture
async def fed(
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    seeded: DemoSeed,
) -> FedStream:
    return await fed_stream(admin, streams_admin, seeded)


@asynccontextmanager
async def feed(http: httpx.AsyncClient, fed: FedStream, **headers: str) -> AsyncIterator[Events]:
    """The stream's SSE feed, subscribed (its first heartbeat read)."""
    async with http.stream(
        "GET", f"/api/streams/{fed.sales.slug}/feed", headers=read_headers(fed.read_key, **headers)
    ) as response:
        assert response.status_code == 200, await response.aread()
        events = Events(response)
        first = await events.next()
        assert first is not None
        assert first.comment is not None
        assert first.comment.startswith("heartbeat")
        yield events


async def push(http: httpx.AsyncClient, fed: FedStream, items: object) -> str:
    answer = await http.post(
        "/api/ingest", json=items, headers=key_headers(fed.sales.key, **{"X-Item-Key": "region"})
    )
    assert answer.status_code == 202, answer.text
    request_id: str = answer.json()["data"]["request_id"]
    return request_id


async def test_items_arrive_after_a_push(http: httpx.AsyncClient, fed: FedStream) -> None:
    async with feed(http, fed) as events:
        assert events.response.headers["content-type"].startswith("text/event-stream")
        assert events.response.headers["cache-control"] == "no-store"
        request_id = await push(http, fed, SEED_BATCH)
        changes = await events.changes(3)
    assert [c.id for c in changes] == ["1", "2", "3"]
    bodies = [c.json() for c in changes]
    assert [b["item_key"] for b in bodies] == ["North", "South", "East"]
    assert bodies[0]["values"] == {"region": "North", "revenue": 142000, "target": 130000}
    assert {b["action"] for b in bodies} == {"created"}
    assert {b["request_id"] for b in bodies} == {request_id}
    assert {b["stream"] for b in bodies} == {fed.sales.slug}


async def test_resume_with_last_event_id_gets_exactly_the_missed_items(
    http: httpx.AsyncClient, fed: FedStream
) -> None:
    async with feed(http, fed) as events:
        await push(http, fed, SEED_BATCH)
        first = await events.changes(3)
    last_seen = first[-1].id
    assert last_seen == "3"
    # While disconnected: South updated, West created.
    missed = await push(
        http, fed, [{"region": "South", "revenue": 99000}, {"region": "West", "revenue": 1}]
    )
    await finished_over_http(http, fed.sales.key, missed)
    async with feed(http, fed, **{"Last-Event-ID": last_seen}) as events:
        resumed = await events.changes(2)
        assert [c.id for c in resumed] == ["4", "5"]
        south, west = (c.json() for c in resumed)
        assert (south["item_key"], south["action"]) == ("South", "updated")
        assert south["values"] == {"region": "South", "revenue": 99000, "target": 110000}
        assert (west["item_key"], west["action"]) == ("West", "created")
        # Nothing else was pending: the next change is the next push's.
        await push(http, fed, [{"region": "North", "revenue": 7}])
        (after,) = await events.changes(1)
        assert after.id == "6"
        assert after.json()["item_key"] == "North"


async def test_current_items_paged_by_item_key(http: httpx.AsyncClient, fed: FedStream) -> None:
    done = await push(http, fed, SEED_BATCH)
    await finished_over_http(http, fed.sales.key, done)
    url = f"/api/streams/{fed.sales.slug}/items"
    first = await http.get(url, params={"page_size": 2}, headers=read_headers(fed.read_key))
    assert first.status_code == 200, first.text
    page = first.json()
    assert [i["item_key"] for i in page["items"]] == ["East", "North"]
    assert page["items"][1]["values"] == {"region": "North", "revenue": 142000, "target": 130000}
    assert page["position"] == "3"
    second = await http.get(
        url,
        params={"page_size": 2, "page_token": page["next_page_token"]},
        headers=read_headers(fed.read_key),
    )
    assert [i["item_key"] for i in second.json()["items"]] == ["South"]
    assert second.json().get("next_page_token", "") == ""


@pytest.mark.parametrize("route", ["items", "feed"])
async def test_bad_credentials_in_the_stream_envelope(
    http: httpx.AsyncClient,
    fed: FedStream,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    seeded: DemoSeed,
    route: str,
) -> None:
    other = await fed_stream(admin, streams_admin, seeded)
    revoked = await fed_stream(admin, streams_admin, seeded)
    await streams_admin.RevokeReadKey(
        streams_pb2.RevokeReadKeyRequest(name=revoked.read_key_name), metadata=seeded.auth
    )
    path = f"/api/streams/{fed.sales.slug}/{route}"
    cases = [
        ({}, 401, "UNAUTHORIZED"),
        ({"Authorization": "Bearer rk_nope"}, 401, "UNAUTHORIZED"),
        (read_headers(f"rk_{'0' * 16}_{'0' * 64}"), 401, "UNAUTHORIZED"),
        (read_headers(revoked.read_key), 401, "UNAUTHORIZED"),
        # An ingest key cannot read.
        (read_headers(fed.sales.key), 401, "UNAUTHORIZED"),
        (read_headers(other.read_key), 403, "FORBIDDEN"),
    ]
    for headers, status, code in cases:
        answer = await http.get(path, headers=headers)
        assert answer.status_code == status, (headers, answer.text)
        body = answer.json()
        assert body["success"] is False
        assert body["error"]["code"] == code
        assert body["error"]["request_id"] == answer.headers["x-request-id"]
        assert "rk_" not in body["error"]["message"].replace("rk_…", "")
    missing = await http.get(
        f"/api/streams/no-such-stream/{route}", headers=read_headers(fed.read_key)
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "STREAM_NOT_FOUND"


async def test_a_read_key_cannot_ingest(http: httpx.AsyncClient, fed: FedStream) -> None:
    answer = await http.post("/api/ingest", json=SEED_BATCH, headers=key_headers(fed.read_key))
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "UNAUTHORIZED"


async def test_bad_last_event_id(http: httpx.AsyncClient, fed: FedStream) -> None:
    for value in ("abc", "99"):
        answer = await http.get(
            f"/api/streams/{fed.sales.slug}/feed",
            headers=read_headers(fed.read_key, **{"Last-Event-ID": value}),
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["details"][0]["field"] == "Last-Event-ID"


async def test_a_resume_from_a_pruned_position_is_refused_naming_it(
    stack: Stack, http: httpx.AsyncClient, fed: FedStream
) -> None:
    request_id = await push(http, fed, SEED_BATCH)
    await finished_over_http(http, fed.sales.key, request_id)
    pool = await store_app.open_pool(stack.database_url, min_size=1, max_size=2)
    try:
        async with pool.connection() as conn:
            # The first two changes grow old; retention takes them (the items stay).
            await conn.execute(
                "UPDATE stream_feed SET create_time = now() - interval '2 hours'"
                " WHERE request_id = %s AND position <= 2",
                (request_id,),
            )
        counts = await Janitor(pool, Retention(0, 3600)).prune_once()
        assert counts is not None
        assert counts["stream_feed"] >= 2
    finally:
        await pool.close()
    path = f"/api/streams/{fed.sales.slug}/feed"
    for query, headers in (
        ("?after_position=1", {}),
        ("", {"Last-Event-ID": "0"}),
    ):
        answer = await http.get(path + query, headers=read_headers(fed.read_key, **headers))
        assert answer.status_code == 400, answer.text
        (detail,) = answer.json()["error"]["details"]
        assert detail["code"] == "POSITION_PRUNED"
        assert detail["field"] == ("after_position" if query else "Last-Event-ID")
    # From the oldest change kept on, the feed answers; the items are all still there.
    async with http.stream(
        "GET", path + "?after_position=2", headers=read_headers(fed.read_key)
    ) as kept:
        assert kept.status_code == 200
    items = await http.get(
        f"/api/streams/{fed.sales.slug}/items", headers=read_headers(fed.read_key)
    )
    assert len(items.json()["items"]) == 3, items.text


async def next_message(call: Any) -> feed_pb2.WatchStreamResponse:
    got = await call.read()
    assert isinstance(got, feed_pb2.WatchStreamResponse)
    return got


async def test_grpc_feed_for_internal_callers(
    stack: Stack, http: httpx.AsyncClient, fed: FedStream
) -> None:
    async with channel(stack.address("store")) as ch:
        stub = feed_pb2_grpc.StreamFeedServiceStub(ch)
        call = stub.WatchStream(
            feed_pb2.WatchStreamRequest(stream=fed.sales.slug), metadata=bearer(fed.read_key)
        )
        first = await next_message(call)
        assert first.WhichOneof("event") == "heartbeat"
        await push(http, fed, SEED_BATCH)
        got = [await next_message(call) for _ in range(3)]
        assert [m.change.position for m in got] == [1, 2, 3]
        assert [m.change.item_key for m in got] == ["North", "South", "East"]
        call.cancel()
        # Resumed after 1 with after_position: exactly 2 and 3 are pending.
        resumed = stub.WatchStream(
            feed_pb2.WatchStreamRequest(stream=fed.sales.slug, after_position=1),
            metadata=bearer(fed.read_key),
        )
        assert (await next_message(resumed)).WhichOneof("event") == "heartbeat"
        assert [(await next_message(resumed)).change.position for _ in range(2)] == [2, 3]
        resumed.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListStreamItems(
                feed_pb2.ListStreamItemsRequest(stream=fed.sales.slug),
                metadata=bearer(fed.sales.key),
            )
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
