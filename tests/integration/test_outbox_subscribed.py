"""Events go into the outbox only for a workspace with an endpoint that could take them,
and an endpoint created or enabled meanwhile misses none: it waits for the writers that
found none, and writers after it see it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from inlet_devstack import postgres
from inlet_store.migrations import migrate
from tests.polling import until

Conn = psycopg.AsyncConnection[Any]


@pytest.fixture(scope="module")
async def own_url(server_url: str) -> AsyncIterator[str]:
    """A database of its own: no other writer's events or notifications in it."""
    url = postgres.create_database(server_url, "inlet_outbox_subscribed")
    await migrate(url)
    yield url
    postgres.drop_database(url)


@pytest.fixture
async def conns(own_url: str) -> AsyncIterator[tuple[Conn, Conn]]:
    """Two connections, each writing in transactions of its own."""
    first = await psycopg.AsyncConnection.connect(own_url)
    second = await psycopg.AsyncConnection.connect(own_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def workspace(conn: Conn) -> str:
    cur = await conn.execute(
        "INSERT INTO workspaces (slug, display_name) VALUES (%s, 'w') RETURNING id::text",
        (f"w{secrets.token_hex(6)}",),
    )
    found = await cur.fetchone()
    await conn.commit()
    assert found is not None
    return str(found[0])


async def write_event(conn: Conn, ws: str, target: str | None = None) -> int:
    """Write one event in `conn`'s open transaction; how many events of `ws` it now sees
    (its own uncommitted ones included, so no notifier can have taken them yet)."""
    await conn.execute(
        "INSERT INTO outbox_events (workspace_id, type, data, target)"
        " VALUES (%s, 'record.created', '{}', %s::json)",
        (ws, target),
    )
    cur = await conn.execute("SELECT count(*) FROM outbox_events WHERE workspace_id = %s", (ws,))
    found = await cur.fetchone()
    return int(found[0]) if found else 0


async def add_endpoint(conn: Conn, ws: str, *, enabled: bool = True, session: bool = False) -> str:
    cur = await conn.execute(
        "INSERT INTO webhook_endpoints (workspace_id, url, secret, enabled, session_id)"
        " VALUES (%s, 'https://hooks.example.com/', 'unused', %s, %s) RETURNING id::text",
        (ws, enabled, "ps_1" if session else None),
    )
    found = await cur.fetchone()
    assert found is not None
    return str(found[0])


async def blocked(observer: Conn, waiting: Conn, what: str) -> None:
    """Return once `waiting`'s statement waits on a lock (seen from `observer`)."""

    async def on_a_lock() -> bool:
        cur = await observer.execute(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
            (waiting.info.backend_pid,),
        )
        found = await cur.fetchone()
        return bool(found and found[0])

    await until(on_a_lock, within=10, what=what)


async def test_no_event_is_written_for_a_workspace_no_endpoint_takes_events_of(
    conns: tuple[Conn, Conn],
) -> None:
    conn, _ = conns
    ws = await workspace(conn)
    assert await write_event(conn, ws) == 0
    await conn.commit()
    # A disabled endpoint takes nothing, nor does a push session's (its events are targeted).
    await add_endpoint(conn, ws, enabled=False)
    await add_endpoint(conn, ws, session=True)
    await conn.commit()
    assert await write_event(conn, ws) == 0
    await conn.rollback()
    await add_endpoint(conn, ws)
    await conn.commit()
    assert await write_event(conn, ws) == 1
    await conn.rollback()


async def test_a_targeted_event_is_always_written(conns: tuple[Conn, Conn]) -> None:
    conn, _ = conns
    ws = await workspace(conn)
    assert await write_event(conn, ws, target='{"url": "https://hooks.example.com/t"}') == 1
    await conn.rollback()


async def test_an_endpoint_created_while_a_writer_found_none_waits_for_it(
    conns: tuple[Conn, Conn],
) -> None:
    writer, admin = conns
    ws = await workspace(writer)
    assert await write_event(writer, ws) == 0  # the writer's transaction stays open
    creating = asyncio.create_task(add_endpoint(admin, ws))
    await blocked(writer, admin, "the endpoint's creation waiting for the writer")
    assert not creating.done()
    await writer.commit()  # the change, without its event, is before the endpoint
    await creating
    await admin.commit()
    assert await write_event(writer, ws) == 1
    await writer.rollback()


async def test_a_writer_that_comes_while_an_endpoint_is_created_sees_it(
    conns: tuple[Conn, Conn],
) -> None:
    writer, admin = conns
    ws = await workspace(writer)
    await add_endpoint(admin, ws)  # not yet committed
    writing = asyncio.create_task(write_event(writer, ws))
    await blocked(admin, writer, "the writer waiting for the endpoint's creation")
    await admin.commit()
    assert await writing == 1
    await writer.rollback()


async def test_enabling_an_endpoint_waits_for_the_writers_that_found_none(
    conns: tuple[Conn, Conn],
) -> None:
    writer, admin = conns
    ws = await workspace(writer)
    endpoint = await add_endpoint(admin, ws, enabled=False)
    await admin.commit()
    assert await write_event(writer, ws) == 0
    enabling = asyncio.create_task(
        admin.execute("UPDATE webhook_endpoints SET enabled = true WHERE id = %s", (endpoint,))
    )
    await blocked(writer, admin, "the endpoint's enabling waiting for the writer")
    await writer.commit()
    await enabling
    await admin.commit()
    assert await write_event(writer, ws) == 1
    await writer.rollback()


async def test_a_statement_that_keeps_no_event_wakes_no_notifier(
    conns: tuple[Conn, Conn], own_url: str
) -> None:
    conn, _ = conns
    quiet, subscribed = await workspace(conn), await workspace(conn)
    await add_endpoint(conn, subscribed)
    await conn.commit()
    async with await psycopg.AsyncConnection.connect(own_url, autocommit=True) as listener:
        await listener.execute("LISTEN inlet_outbox")
        await write_event(conn, quiet)
        await conn.commit()
        await write_event(conn, subscribed)
        await conn.commit()
        # Notifications arrive in commit order: once this marker is in, the two commits'
        # are too.
        await conn.execute("SELECT pg_notify('inlet_outbox', 'marker')")
        await conn.commit()
        payloads: list[str] = []
        async for note in listener.notifies(timeout=10):
            payloads.append(note.payload)
            if note.payload == "marker":
                break
    assert payloads == ["", "marker"]  # the subscribed workspace's commit only
