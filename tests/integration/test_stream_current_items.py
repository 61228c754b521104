"""A stream's current items: one row per record, at the position of its last change, whether
the record was created and changed in one statement or changed later."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from inlet_devstack.demo import bearer
from tests.messages import stream_request
from tests.stream_support import (
    MEMBER,
    SalesStream,
    StreamServers,
    finished,
    module_stream_fixtures,
    sales_stream,
    seed_workspace,
)

own_pool, ss = module_stream_fixtures("inlet_stream_current_items")


@pytest.fixture
async def members(ss: StreamServers) -> SalesStream:
    seed = await seed_workspace(ss, "current")
    return await sales_stream(ss.admin, ss.streams, seed, entity_type=MEMBER)


async def applied(ss: StreamServers, stream: SalesStream, items: list[Any]) -> str:
    answer = await ss.ingest.IngestStream(stream_request(items), metadata=bearer(stream.key))
    request_id = str(answer.data.request_id)
    assert (await finished(ss, stream.key, request_id))["status"] == "completed"
    return request_id


async def rows(pool: AsyncConnectionPool[Any], sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        found: list[tuple[Any, ...]] = await cur.fetchall()
    return found


async def test_each_record_is_current_once_at_its_last_change(
    ss: StreamServers, members: SalesStream
) -> None:
    # Created and changed again in one request (one statement), a second record, then a
    # later request changing the first again.
    first = await applied(
        ss,
        members,
        [
            {"email": "ada@acme.no", "name": "Ada"},
            {"email": "ada@acme.no", "name": "Ada L"},
            {"email": "bo@acme.no", "name": "Bo"},
        ],
    )
    [(stream_id,)] = await rows(
        ss.pool, "SELECT stream_id FROM stream_requests WHERE id = %s", first
    )
    await applied(ss, members, [{"email": "ada@acme.no", "name": "Ada Lovelace"}])

    feed = await rows(
        ss.pool,
        "SELECT position, record_id, action, data->>'name' FROM stream_feed"
        " WHERE stream_id = %s ORDER BY position",
        stream_id,
    )
    assert [(p, a) for p, _, a, _ in feed] == [
        (1, "created"),
        (2, "updated"),
        (3, "created"),
        (4, "updated"),
    ]
    assert feed[3][3] == "Ada Lovelace"
    ada, bo = feed[0][1], feed[2][1]
    current = await rows(
        ss.pool,
        "SELECT record_id, position FROM stream_items WHERE stream_id = %s ORDER BY position",
        stream_id,
    )
    assert current == [(bo, 3), (ada, 4)]
