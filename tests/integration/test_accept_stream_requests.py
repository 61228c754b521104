"""StoreService.AcceptStreamRequests over real gRPC: several stream requests in one call (one
batch of the store's), each answered as AcceptStreamRequest would answer it alone, with its
own connector-log line, and the rate limit exact per key."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import grpc
import pytest
from psycopg_pool import AsyncConnectionPool

from inlet.store.v1 import store_pb2
from inlet_common import exactjson
from inlet_common.errors import NotFound, reason_of
from inlet_common.sqlfiles import NamedQueries
from inlet_devstack import demo
from inlet_devstack.demo import bearer
from inlet_store.inbox import Accepted, Inbox, Rejection, accepting_many
from inlet_store.service import Store
from tests.messages import as_dict, stream_request
from tests.stream_support import (
    SEED_SINGLE,
    SalesStream,
    StreamServers,
    finished,
    module_stream_fixtures,
    sales_stream,
    seed_workspace,
)
from tests.windows import steady_window

own_pool, ss = module_stream_fixtures("inlet_accepts")


@pytest.fixture
async def seed(ss: StreamServers) -> demo.DemoSeed:
    return await seed_workspace(ss, "a")


def request(key: str, version: str, **fields: Any) -> store_pb2.AcceptStreamRequestRequest:
    return store_pb2.AcceptStreamRequestRequest(
        ingest_key=key,
        items=exactjson.to_raw([SEED_SINGLE]),
        single=True,
        schema_version=version,
        **fields,
    )


def call(accept: store_pb2.AcceptStreamRequestRequest, request_id: str) -> Any:
    return store_pb2.AcceptStreamRequestCall(
        request=accept, request_id=request_id, client_request_id="crm-7"
    )


async def version_of(ss: StreamServers, key: str) -> str:
    cold = await ss.store.AcceptStreamRequests(
        store_pb2.AcceptStreamRequestsRequest(requests=[call(request(key, ""), "req_cold")])
    )
    version = cold.results[0].response.schema.version
    assert version
    return version


async def log_lines(ss: StreamServers, ids: list[str]) -> list[tuple[str, str, str, int]]:
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT request_id, client_request_id, outcome, status_code"
            " FROM connector_log_entries WHERE request_id = ANY(%s)",
            (ids,),
        )
        return sorted(await cur.fetchall())


async def test_each_request_of_a_call_gets_its_own_answer_and_log_line(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    sales = await sales_stream(ss.admin, ss.streams, seed)
    version = await version_of(ss, sales.key)
    ids = [f"req_{secrets.token_hex(6)}" for _ in range(6)]
    bad = store_pb2.AcceptStreamRequestRequest()
    bad.CopyFrom(request(sales.key, version, violation_count=1))
    bad.violations.add(field="body.region", code="REQUIRED", message="region is required")
    answer = await ss.store.AcceptStreamRequests(
        store_pb2.AcceptStreamRequestsRequest(
            requests=[
                call(request(sales.key, version), ids[0]),
                # Checked against a schema that is not the current one: nothing done.
                call(request(sales.key, "stale"), ids[1]),
                # A key that does not exist, and one naming another stream, fail alone.
                call(request(sales.key[:-4] + "0000", version), ids[2]),
                call(request(sales.key, version, stream="elsewhere"), ids[3]),
                call(bad, ids[4]),
                call(request(sales.key, version, idempotency_key="k-1"), ids[5]),
                # The first request of the call keeps its id.
                call(request(sales.key, version), ids[0]),
            ]
        )
    )
    stored, stale, unknown, elsewhere, invalid, keyed, again = answer.results
    assert stored.response.request_id == ids[0]
    assert stored.response.rate_limit.limit > 0
    assert stale.response.schema.version == version
    assert not stale.response.request_id
    assert unknown.error.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert elsewhere.error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert reason_of(elsewhere.error) == "STREAM_NOT_FOUND"
    assert reason_of(invalid.error) == "INVALID_PAYLOAD"
    assert keyed.response.request_id == ids[5]
    assert reason_of(again.error) == "REQUEST_ID_IN_USE"
    assert await log_lines(ss, ids) == sorted(
        [
            (ids[0], "crm-7", "accepted", 202),
            (ids[0], "crm-7", "rejected", 409),
            (ids[3], "crm-7", "rejected", 404),
            (ids[4], "crm-7", "rejected", 400),
            (ids[5], "crm-7", "accepted", 202),
        ]
    )
    # The same Idempotency-Key in a later call answers with the first request's id.
    replay_id = f"req_{secrets.token_hex(6)}"
    replay = await ss.store.AcceptStreamRequests(
        store_pb2.AcceptStreamRequestsRequest(
            requests=[call(request(sales.key, version, idempotency_key="k-1"), replay_id)]
        )
    )
    assert replay.results[0].response.request_id == ids[5]
    assert replay.results[0].response.replayed
    for request_id in (ids[0], ids[5]):
        assert (await finished(ss, sales.key, request_id))["status"] == "completed"


async def test_the_hits_of_one_call_are_counted_exactly_per_key(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    window = steady_window()
    limited = await sales_stream(
        ss.admin, ss.streams, seed, rate_limit=3, rate_window_seconds=window
    )
    other = await sales_stream(ss.admin, ss.streams, seed)
    version = await version_of(ss, limited.key)
    keys = [limited.key] * 5 + [other.key]
    answer = await ss.store.AcceptStreamRequests(
        store_pb2.AcceptStreamRequestsRequest(
            requests=[call(request(key, version), f"req_{secrets.token_hex(6)}") for key in keys]
        )
    )
    results = list(answer.results)
    assert [r.response.rate_limit.remaining for r in results[:3]] == [2, 1, 0]
    for refused in results[3:5]:
        assert refused.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert reason_of(refused.error) == "RATE_LIMITED"
    # Another key's request in the same call is not limited by this one's.
    assert results[5].response.request_id
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT r.hits FROM rate_windows r JOIN ingest_keys k ON k.id = r.subject"
            " JOIN streams s ON s.id = k.stream_id WHERE s.slug = %s",
            (limited.slug,),
        )
        assert [row[0] for row in await cur.fetchall()] == [5]


async def accepted_count(ss: StreamServers, sales: SalesStream) -> int:
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM stream_requests r JOIN streams s ON s.id = r.stream_id"
            " WHERE s.slug = %s",
            (sales.slug,),
        )
        found = await cur.fetchone()
    assert found is not None
    return int(found[0])


async def test_concurrent_stream_requests_through_the_matcher_are_each_stored(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    sales = await sales_stream(ss.admin, ss.streams, seed)

    async def one(n: int) -> str:
        got = await ss.ingest.IngestStream(
            stream_request({**SEED_SINGLE, "region": f"R{n}"}), metadata=bearer(sales.key)
        )
        return str(as_dict(got)["data"]["request_id"])

    ids = await asyncio.gather(*(one(n) for n in range(40)))
    assert len(set(ids)) == 40
    assert await accepted_count(ss, sales) == 40
    for request_id in ids:
        assert (await finished(ss, sales.key, request_id))["status"] == "completed"


async def test_the_bodies_of_a_batch_are_stored_exactly_as_sent(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    # Quotes, backslashes, braces and commas are what an array's text format escapes.
    sales = await sales_stream(ss.admin, ss.streams, seed)
    version = await version_of(ss, sales.key)
    bodies = [
        '[{"region":"No\\"rth\\\\ {a,b} é 💥","revenue":1.50,"target":1e-7}]',
        '[{"region":"South","revenue":98000,"target":110000.000}]',
    ]
    ids = [f"req_{secrets.token_hex(6)}" for _ in bodies]
    requests = [
        store_pb2.AcceptStreamRequestRequest(
            ingest_key=sales.key, single=True, schema_version=version
        )
        for _ in bodies
    ]
    for accept, body in zip(requests, bodies, strict=True):
        accept.items.json = body
    answer = await ss.store.AcceptStreamRequests(
        store_pb2.AcceptStreamRequestsRequest(
            requests=[call(r, i) for r, i in zip(requests, ids, strict=True)]
        )
    )
    assert [r.response.request_id for r in answer.results] == ids
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT items::text FROM stream_requests WHERE id = ANY(%s) ORDER BY create_time",
            (ids,),
        )
        assert [row[0] for row in await cur.fetchall()] == bodies


@pytest.mark.parametrize("count", [0, 257])
async def test_a_call_with_no_request_or_too_many_is_refused_naming_requests(
    ss: StreamServers, count: int
) -> None:
    calls = [call(request("ik_live_x_y", ""), "req_x")] * count
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ss.store.AcceptStreamRequests(store_pb2.AcceptStreamRequestsRequest(requests=calls))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests" in (caught.value.details() or "")


class DeletingQueries:
    """The inbox's queries, deleting `stream` just before the batch's insert (as a
    concurrent DeleteStream would between the key's check and the insert)."""

    def __init__(self, queries: NamedQueries, pool: AsyncConnectionPool[Any], stream: str):
        self.queries = queries
        self.pool = pool
        self.stream = stream

    async def rows(self, conn: Any, name: str, **params: Any) -> list[dict[str, Any]]:
        if name == "accept_stream_requests":
            async with self.pool.connection() as other:
                await other.execute("DELETE FROM streams WHERE slug = %s", (self.stream,))
        return await self.queries.rows(conn, name, **params)

    async def execute(self, conn: Any, name: str, **params: Any) -> int:
        return await self.queries.execute(conn, name, **params)


async def test_a_batch_whose_insert_fails_stores_its_requests_one_by_one(
    ss: StreamServers, seed: demo.DemoSeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = await sales_stream(ss.admin, ss.streams, seed)
    kept = await sales_stream(ss.admin, ss.streams, seed)
    version = await version_of(ss, kept.key)
    monkeypatch.setattr(
        accepting_many, "_QUERIES", DeletingQueries(accepting_many._QUERIES, ss.pool, doomed.slug)
    )
    inbox = Inbox(ss.pool, Store(ss.pool))

    def command(key: str) -> accepting_many.AcceptCommand:
        return accepting_many.AcceptCommand(
            request_id=f"req_{secrets.token_hex(6)}",
            client_request_id="",
            traceparent="",
            ingest_key=key,
            stream="",
            idempotency_key="",
            item_key="",
            items=[SEED_SINGLE],
            single=True,
            schema_version=version,
            rejection=Rejection(),
        )

    gone, stored = await inbox.accept_many([command(doomed.key), command(kept.key)])
    # The deleted stream's request fails alone; the other is stored all the same.
    assert isinstance(gone, NotFound)
    assert isinstance(stored, Accepted)
    assert (await finished(ss, kept.key, stored.request_id))["status"] == "completed"
