"""References that the apply of an array checks once per statement or once per record: the
stream tables' (outcomes → request, feed and current items → stream and record), checked by
statement triggers instead of foreign keys, hold as foreign keys do (a row never points at a
missing parent, and a parent's deletion takes its rows with it); a record's type is in the
record's own workspace (one reference for both)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg
from psycopg_pool import AsyncConnectionPool

from inlet_devstack.demo import bearer
from tests.messages import stream_request
from tests.polling import until
from tests.stream_support import (
    SalesStream,
    StreamServers,
    finished,
    module_stream_fixtures,
    sales_stream,
    seed_workspace,
)

own_pool, ss = module_stream_fixtures("inlet_stream_references")


@pytest.fixture
async def sales(ss: StreamServers) -> SalesStream:
    return await sales_stream(ss.admin, ss.streams, await seed_workspace(ss, "refs"))


async def applied(ss: StreamServers, sales: SalesStream, items: list[Any]) -> str:
    """A request's id once its items are applied (outcomes, feed and current items)."""
    answer = await ss.ingest.IngestStream(stream_request(items), metadata=bearer(sales.key))
    request_id = str(answer.data.request_id)
    assert (await finished(ss, sales.key, request_id))["status"] == "completed"
    return request_id


async def count(pool: AsyncConnectionPool[Any], sql: str, *params: Any) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        found = await cur.fetchone()
    assert found is not None
    return int(found[0])


async def stream_id(pool: AsyncConnectionPool[Any], request_id: str) -> str:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT stream_id FROM stream_requests WHERE id = %s", (request_id,)
        )
        found = await cur.fetchone()
    assert found is not None
    return str(found[0])


async def test_rows_pointing_at_a_missing_parent_are_refused_as_by_a_foreign_key(
    ss: StreamServers, sales: SalesStream
) -> None:
    request_id = await applied(ss, sales, [{"region": "North"}])
    stream = await stream_id(ss.pool, request_id)
    record = await count(ss.pool, "SELECT count(*) FROM stream_items WHERE stream_id = %s", stream)
    assert record == 1
    refused = [
        (
            "INSERT INTO stream_request_items (request_id, item_index, action)"
            " VALUES (%s, 0, 'failed')",
            ("no-such-request",),
            "request_id",
        ),
        (
            "INSERT INTO stream_feed"
            " (stream_id, position, record_id, item_key, action, data, request_id)"
            " VALUES (%s, 1000000, %s, 'k', 'created', '{}', 'r')",
            (str(uuid.uuid4()), str(uuid.uuid4())),
            "stream_id",
        ),
        (
            "INSERT INTO stream_items (stream_id, record_id, item_key, position)"
            " VALUES (%s, %s, 'k', 1)",
            (stream, str(uuid.uuid4())),
            "record_id",
        ),
    ]
    async with ss.pool.connection() as conn:
        for sql, params, column in refused:
            with pytest.raises(pg.ForeignKeyViolation) as caught:
                async with conn.transaction():
                    await conn.execute(sql, params)
            assert caught.value.diag.column_name == column
            assert "is not present" in (caught.value.diag.message_detail or "")


async def test_a_row_is_never_moved_to_another_parent(
    ss: StreamServers, sales: SalesStream
) -> None:
    request_id = await applied(ss, sales, [{"region": "East"}])
    other = await applied(ss, sales, [{"region": "West"}])
    async with ss.pool.connection() as conn:
        with pytest.raises(pg.ForeignKeyViolation):
            async with conn.transaction():
                await conn.execute(
                    "UPDATE stream_request_items SET request_id = %s WHERE request_id = %s",
                    (other, request_id),
                )
        with pytest.raises(pg.ForeignKeyViolation):
            async with conn.transaction():
                await conn.execute(
                    "UPDATE stream_items SET record_id = gen_random_uuid() WHERE stream_id = %s",
                    (await stream_id(ss.pool, request_id),),
                )


async def test_deleting_a_parent_deletes_the_rows_that_point_at_it(
    ss: StreamServers, sales: SalesStream
) -> None:
    request_id = await applied(ss, sales, [{"region": f"r{i}"} for i in range(5)])
    stream = await stream_id(ss.pool, request_id)
    items = "SELECT count(*) FROM stream_request_items WHERE request_id = %s"
    feed = "SELECT count(*) FROM stream_feed WHERE stream_id = %s"
    current = "SELECT count(*) FROM stream_items WHERE stream_id = %s"
    assert await count(ss.pool, items, request_id) == 5
    assert await count(ss.pool, feed, stream) == 5
    assert await count(ss.pool, current, stream) == 5

    async with ss.pool.connection() as conn:
        # A record's deletion takes its current item; the others stay.
        await conn.execute(
            "DELETE FROM records WHERE id = (SELECT record_id FROM stream_request_items"
            " WHERE request_id = %s AND item_index = 0)",
            (request_id,),
        )
    assert await count(ss.pool, current, stream) == 4
    async with ss.pool.connection() as conn:
        # The request's deletion takes its outcomes.
        await conn.execute("DELETE FROM stream_requests WHERE id = %s", (request_id,))
    assert await count(ss.pool, items, request_id) == 0
    assert await count(ss.pool, feed, stream) == 5

    again = await applied(ss, sales, [{"region": "again"}])
    async with ss.pool.connection() as conn:
        # The stream's deletion takes its requests (a foreign key), their outcomes, its
        # feed and its current items.
        await conn.execute("DELETE FROM streams WHERE id = %s", (stream,))
    assert await count(ss.pool, items, again) == 0
    assert await count(ss.pool, feed, stream) == 0
    assert await count(ss.pool, current, stream) == 0


async def test_a_deletion_waiting_for_an_apply_takes_what_the_apply_wrote(
    ss: StreamServers, sales: SalesStream
) -> None:
    # The apply holds its request's row; a stream deletion waits for it, then finds (and
    # deletes) every row the apply committed: nothing is left pointing at the stream.
    request_id = await applied(ss, sales, [{"region": "held"}])
    stream = await stream_id(ss.pool, request_id)
    url = str(ss.pool.conninfo)
    async with (
        await psycopg.AsyncConnection.connect(url) as applying,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as deleting,
    ):
        await applying.execute(
            "SELECT 1 FROM stream_requests WHERE id = %s FOR UPDATE", (request_id,)
        )
        await applying.execute(
            "INSERT INTO stream_request_items (request_id, item_index, action)"
            " VALUES (%s, 99, 'failed')",
            (request_id,),
        )
        cur = await deleting.execute("SELECT pg_backend_pid()")
        row = await cur.fetchone()
        assert row is not None
        deleter = row[0]
        task = asyncio.ensure_future(
            deleting.execute("DELETE FROM streams WHERE id = %s", (stream,))
        )

        async def deletion_waits() -> bool:
            found = await count(
                ss.pool,
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                deleter,
            )
            return found == 1

        await until(deletion_waits, what="the stream's deletion to wait for the apply")
        await applying.commit()
        await task
    assert (
        await count(
            ss.pool, "SELECT count(*) FROM stream_request_items WHERE request_id = %s", request_id
        )
        == 0
    )


async def test_a_record_references_its_type_in_its_own_workspace(
    ss: StreamServers, sales: SalesStream
) -> None:
    request_id = await applied(ss, sales, [{"region": "South"}])
    [(workspace,)] = await rows_of(
        ss.pool,
        "SELECT r.workspace_id FROM records r JOIN stream_request_items i"
        " ON i.record_id = r.id WHERE i.request_id = %s",
        request_id,
    )
    await seed_workspace(ss, "elsewhere")
    [(elsewhere,)] = await rows_of(
        ss.pool, "SELECT id FROM workspaces WHERE id <> %s LIMIT 1", workspace
    )
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO entity_types (workspace_id, slug, display_name)"
            " VALUES (%s, 'scratch', 'Scratch') RETURNING id",
            (workspace,),
        )
        found = await cur.fetchone()
        assert found is not None
        scratch = found[0]
        with pytest.raises(pg.ForeignKeyViolation):
            async with conn.transaction():
                # The type of one workspace under another workspace's record.
                await conn.execute(
                    "INSERT INTO records (workspace_id, entity_type_id) VALUES (%s, %s)",
                    (elsewhere, scratch),
                )
        await conn.execute(
            "INSERT INTO records (workspace_id, entity_type_id) VALUES (%s, %s)",
            (workspace, scratch),
        )
        # The type's deletion takes its records.
        await conn.execute("DELETE FROM entity_types WHERE id = %s", (scratch,))
    assert (
        await count(ss.pool, "SELECT count(*) FROM records WHERE entity_type_id = %s", scratch) == 0
    )


async def rows_of(pool: AsyncConnectionPool[Any], sql: str, *params: Any) -> list[Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        found: list[Any] = await cur.fetchall()
    return found
