"""Claiming the inbox over gRPC: many requests per call within the budgets, oldest first,
and a long poll that a committed request ends (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from inlet.store.v1 import store_pb2
from inlet_devstack import demo
from inlet_devstack.demo import bearer
from inlet_matcher.stream_plan import plan_items
from tests.messages import stream_request
from tests.outbox_subscribers import subscribe
from tests.outbox_support import OUTBOX_EVENTS
from tests.polling import until
from tests.stream_support import (
    MEMBER,
    SalesStream,
    StreamServers,
    finished,
    module_stream_fixtures,
    sales_stream,
    seed_workspace,
)

own_pool, ss = module_stream_fixtures("inlet_inbox_claims")


@pytest.fixture
async def sales(ss: StreamServers) -> SalesStream:
    seed: demo.DemoSeed = await seed_workspace(ss, "claims")
    return await sales_stream(ss.admin, ss.streams, seed)


async def accept(ss: StreamServers, key: str, value: Any) -> str:
    answer = await ss.ingest.IngestStream(stream_request(value), metadata=bearer(key))
    return str(answer.data.request_id)


async def claim(ss: StreamServers, **more: Any) -> list[store_pb2.ClaimedStreamRequest]:
    found = await ss.store.ClaimStreamRequests(
        store_pb2.ClaimStreamRequestsRequest(worker="test", lease_seconds=300, **more)
    )
    return list(found.claims)


async def test_one_call_leases_many_requests_oldest_first_within_the_item_budget(
    ss: StreamServers, sales: SalesStream
) -> None:
    await ss.workers.stop()  # this test plays the workers
    try:
        singles = [await accept(ss, sales.key, {"region": f"r{i}"}) for i in range(3)]
        batch = await accept(ss, sales.key, [{"region": f"b{i}"} for i in range(5)])
        last = await accept(ss, sales.key, {"region": "last"})
        # 3 singles fit a budget of 4 items; the 5-item batch does not, nor what follows.
        first = await claim(ss, max_requests=10, max_items=4)
        assert [c.request_id for c in first] == singles
        assert all(c.lease_token for c in first)
        # The next claim takes the batch although it alone is over the budget.
        second = await claim(ss, max_requests=10, max_items=4)
        assert [c.request_id for c in second] == [batch]
        third = await claim(ss, max_requests=10, max_items=0)
        assert [c.request_id for c in third] == [last]
        # Everything is leased: a claim that may not wait answers none.
        assert await claim(ss, max_requests=10) == []
        for claimed in [*first, *second, *third]:
            assert await ss.workers.process(claimed) == "completed"
    finally:
        ss.workers.start()


async def test_a_parked_claim_is_answered_when_a_request_is_committed(
    ss: StreamServers, sales: SalesStream
) -> None:
    await ss.workers.stop()
    try:
        parked = asyncio.create_task(claim(ss, max_requests=5, wait_seconds=60))
        assert ss.wakeups is not None
        wakeups = ss.wakeups
        await until(lambda: wakeups.parked == 1, within=10, what="the claim parked")
        request_id = await accept(ss, sales.key, {"region": "woken"})
        # Long before its 60 s are up: the store heard the commit's NOTIFY.
        found = await asyncio.wait_for(parked, 30)
        assert [c.request_id for c in found] == [request_id]
        assert await ss.workers.process(found[0]) == "completed"
    finally:
        ss.workers.start()


async def test_workers_waiting_in_long_polls_process_what_arrives(
    ss: StreamServers, sales: SalesStream
) -> None:
    request_ids = [await accept(ss, sales.key, {"region": f"w{i}"}) for i in range(5)]
    for request_id in request_ids:
        status = await finished(ss, sales.key, request_id)
        assert status["status"] == "completed"


async def test_requests_applied_together_commit_apart_from_one_whose_lease_was_lost(
    ss: StreamServers, sales: SalesStream
) -> None:
    await ss.workers.stop()
    try:
        ids = [await accept(ss, sales.key, {"region": f"t{i}"}) for i in range(3)]
        claims = await claim(ss, max_requests=3)
        assert [c.request_id for c in claims] == ids
        requests = [
            store_pb2.ApplyStreamItemsRequest(
                request_id=c.request_id,
                # The middle one's lease is not ours (any more).
                lease_token=c.lease_token if i != 1 else "00000000-0000-0000-0000-000000000000",
                lease_seconds=30,
                workspace_id=c.workspace_id,
                items=plan_items(c),
                finish=True,
            )
            for i, c in enumerate(claims)
        ]
        applied = await ss.store.ApplyStreamRequests(
            store_pb2.ApplyStreamRequestsRequest(requests=requests)
        )
        assert [(r.request_id, r.status, r.error_reason) for r in applied.results] == [
            (ids[0], "completed", ""),
            (ids[1], "", "LEASE_LOST"),
            (ids[2], "completed", ""),
        ]
        assert (await finished(ss, sales.key, ids[0]))["status"] == "completed"
        assert (await finished(ss, sales.key, ids[2]))["status"] == "completed"
        # Nothing of the refused one was written; its worker still finishes it.
        assert await ss.workers.process(claims[1]) == "completed"
    finally:
        ss.workers.start()


async def test_requests_applied_together_see_each_other_in_accept_order(
    ss: StreamServers, own_pool: AsyncConnectionPool[Any]
) -> None:
    """A batch is written set-based, yet each request sees the ones before it as if they
    were applied one by one; its feed positions and events follow the accept order."""
    seed: demo.DemoSeed = await seed_workspace(ss, "together")
    await subscribe(own_pool, seed.workspace.rpartition("/")[2])
    members = await sales_stream(ss.admin, ss.streams, seed, entity_type=MEMBER)
    await ss.workers.stop()
    try:
        ids = [
            await accept(ss, members.key, {"name": "Ada", "email": "ada@example.com"}),
            # Matches the record the first one creates, in the same batch.
            await accept(ss, members.key, {"name": "Ada L", "email": "ADA@example.com"}),
            # New and nameless: its only item fails, the others are not held up.
            await accept(ss, members.key, {"email": "nobody@example.com"}),
            await accept(
                ss,
                members.key,
                [{"name": "Bo", "email": "bo@example.com"}, {"email": "ada@example.com"}],
            ),
        ]
        claims = await claim(ss, max_requests=10)
        assert [c.request_id for c in claims] == ids
        applied = await ss.store.ApplyStreamRequests(
            store_pb2.ApplyStreamRequestsRequest(
                requests=[
                    store_pb2.ApplyStreamItemsRequest(
                        request_id=c.request_id,
                        lease_token=c.lease_token,
                        lease_seconds=30,
                        workspace_id=c.workspace_id,
                        items=plan_items(c),
                        finish=True,
                    )
                    for c in claims
                ]
            )
        )
        assert [(r.status, r.error_reason) for r in applied.results] == [
            ("completed", ""),
            ("completed", ""),
            ("failed", ""),
            ("completed", ""),
        ]
        first, second, third, fourth = [await finished(ss, members.key, i) for i in ids]
        ada = first["items"][0]["record_id"]
        assert first["items"][0]["action"] == "created"
        assert second["items"][0] == {
            "index": 0,
            "record_id": ada,
            "action": "updated",
            "matched_on": ["email"],
        }
        assert third["items"][0]["error"]["code"] == "REQUIRED_FIELD_MISSING"
        assert third["items_failed"] == 1
        assert [i["action"] for i in fourth["items"]] == ["created", "updated"]
        assert fourth["items"][1]["record_id"] == ada
        async with own_pool.connection() as conn:
            feed = await conn.execute(
                "SELECT request_id, item_index FROM stream_feed f"
                " JOIN stream_request_items i USING (request_id, record_id)"
                " WHERE request_id = ANY(%s) ORDER BY position",
                (ids,),
            )
            positions = [tuple(r) for r in await feed.fetchall()]
            events = await conn.execute(
                f"SELECT type, data->>'request_id' FROM {OUTBOX_EVENTS}"
                " WHERE data->>'request_id' = ANY(%s) ORDER BY seq, k",
                (ids,),
            )
            outbox = [tuple(r) for r in await events.fetchall()]
        assert positions == [(ids[0], 0), (ids[1], 0), (ids[3], 0), (ids[3], 1)]
        done = "request.completed"
        assert outbox == [
            ("record.created", ids[0]),
            (done, ids[0]),
            ("record.updated", ids[1]),
            (done, ids[1]),
            (done, ids[2]),
            ("record.created", ids[3]),
            ("record.updated", ids[3]),
            (done, ids[3]),
        ]
    finally:
        ss.workers.start()
