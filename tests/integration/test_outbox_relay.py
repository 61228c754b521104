"""The outbox: written in the change's transaction, taken by the notifier straight from the
table (one atomic statement per batch, SKIP LOCKED), each event once, woken by NOTIFY."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from inlet_common.listen import Listener
from inlet_devstack import postgres
from inlet_notifier.outbox.consumer import OutboxConsumer
from inlet_notifier.outbox.repository import SqlOutbox, take_batch
from inlet_notifier.secrets_at_rest import KeyRing, new_key_ring
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from inlet_store import app as store_app
from inlet_store.errors import MissingRequired
from inlet_store.migrations import migrate
from inlet_store.push.repository import PgPushRepository
from inlet_store.push.use_case import PushCommitter
from tests.integration.webhook_fixtures import url_of
from tests.outbox_subscribers import subscribe
from tests.polling import until
from tests.push_commit_support import commit, planned


@pytest.fixture(scope="module")
async def own_pool(server_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """A database of its own, so no other notifier (the e2e stack's) takes these rows."""
    url = postgres.create_database(server_url, "inlet_outbox")
    await migrate(url)
    pool = await store_app.open_pool(url, min_size=2, max_size=20)
    yield pool
    await pool.close()
    postgres.drop_database(url)


@pytest.fixture
async def target(own_pool: AsyncConnectionPool[Any]) -> dict[str, str]:
    """A workspace with a contact type (unique email) and an ingest endpoint."""
    token = secrets.token_bytes(32)
    async with own_pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "INSERT INTO workspaces (slug, display_name) VALUES (%s, 'w') RETURNING id",
            (f"w{secrets.token_hex(6)}",),
        )
        workspace = str((await cur.fetchone() or [""])[0])
        cur = await conn.execute(
            "INSERT INTO entity_types (workspace_id, slug, display_name)"
            " VALUES (%s, 'contact', 'Contact') RETURNING id",
            (workspace,),
        )
        type_id = str((await cur.fetchone() or [""])[0])
        await conn.execute(
            "INSERT INTO fields (entity_type_id, slug, display_name, type, is_unique, position)"
            " VALUES (%s, 'email', 'E-mail', 'email', true, 0)",
            (type_id,),
        )
        cur = await conn.execute(
            "INSERT INTO ingest_endpoints (workspace_id, entity_type_id, display_name, token_hash)"
            " VALUES (%s, %s, 'e', %s) RETURNING id",
            (workspace, type_id, token),
        )
        endpoint = str((await cur.fetchone() or [""])[0])
        await subscribe(conn, workspace)
    return {
        "workspace": workspace,
        "type": type_id,
        "endpoint": endpoint,
        "token_hash": token.hex(),
    }


async def outbox_rows(pool: AsyncConnectionPool[Any], workspace: str) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT type, data FROM outbox_events WHERE workspace_id = %s ORDER BY seq",
            (workspace,),
        )
        return list(await cur.fetchall())


async def push(pool: AsyncConnectionPool[Any], target: dict[str, str], email: str) -> None:
    await commit(
        PushCommitter(PgPushRepository(pool)),
        bytes.fromhex(target["token_hash"]),
        planned(target["type"], {"email": email}, ("email",)),
    )


async def test_changes_write_outbox_events_in_their_transaction(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    committer = PushCommitter(PgPushRepository(own_pool))
    token = bytes.fromhex(target["token_hash"])
    await commit(
        committer, token, planned(target["type"], {"email": "ada@example.com"}, ("email",))
    )
    await commit(
        committer,
        token,
        planned(target["type"], {"email": "ada@example.com", "name": "Ada"}, ("email",)),
    )
    rows = await outbox_rows(own_pool, target["workspace"])
    assert [r[0] for r in rows] == ["record.created", "record.updated"]
    created, updated = (r[1] for r in rows)
    assert created["id"] == updated["id"]
    assert updated["fields"] == {"email": "ada@example.com", "name": "Ada"}
    assert updated["matched_on"] == ["email"]
    assert created["source"]["id"] == target["endpoint"]
    assert created["entity_type_id"] == target["type"]


async def test_a_change_that_fails_writes_no_event_but_the_failure_is_one(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    committer = PushCommitter(PgPushRepository(own_pool))
    empty = replace(planned(target["type"], {}), missing_required=("email",))
    with pytest.raises(MissingRequired):
        await commit(committer, bytes.fromhex(target["token_hash"]), empty, request_id="req_x")
    ((type_, data),) = await outbox_rows(own_pool, target["workspace"])
    assert type_ == "ingest.failed"
    assert data["status_code"] == 400
    assert data["outcome"]["error"]["code"] == "REQUIRED_FIELD_MISSING"
    assert data["source"] == {
        "type": "ingest_endpoint",
        "id": target["endpoint"],
        "request_id": "req_x",
    }


async def outbox_ids(pool: AsyncConnectionPool[Any], workspace: str) -> list[str]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id FROM outbox_events WHERE workspace_id = %s ORDER BY seq", (workspace,)
        )
        return [r[0] for r in await cur.fetchall()]


async def delivered_ids(pool: AsyncConnectionPool[Any], endpoint_id: str) -> dict[str, int]:
    """Event id → deliveries of it to the endpoint."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT ev.id, count(d.id) FROM webhook_events ev"
            "  JOIN webhook_deliveries d ON d.event_id = ev.id"
            " WHERE d.endpoint_id = %s GROUP BY ev.id",
            (endpoint_id,),
        )
        return {r[0]: r[1] for r in await cur.fetchall()}


async def subscriber(pool: AsyncConnectionPool[Any], workspace: str) -> str:
    webhooks = Webhooks(pool, keys=KeyRing.parse(new_key_ring()), allow_private=True)
    endpoint, _ = await webhooks.create_endpoint(
        workspace, EndpointSpec(url="http://example.com/hook")
    )
    return str(endpoint["id"])


async def drain(pool: AsyncConnectionPool[Any]) -> int:
    return await OutboxConsumer(SqlOutbox(pool), batch_size=2).drain()


async def test_the_notifier_takes_each_event_once_under_its_outbox_id(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    endpoint = await subscriber(own_pool, target["workspace"])
    for i in range(5):
        await push(own_pool, target, f"p{i}@example.com")
    # Nothing takes the events while no notifier runs: they wait in the outbox.
    ids = await outbox_ids(own_pool, target["workspace"])
    assert len(ids) == 5
    woken: list[int] = []
    consumer = OutboxConsumer(
        SqlOutbox(own_pool), batch_size=2, on_deliveries=lambda: woken.append(1)
    )
    assert await consumer.drain() >= 5
    assert await outbox_ids(own_pool, target["workspace"]) == []
    # The outbox id is the event's id, so every attempt carries it as webhook-id.
    assert await delivered_ids(own_pool, endpoint) == dict.fromkeys(ids, 1)
    assert woken
    assert await drain(own_pool) == 0
    assert await delivered_ids(own_pool, endpoint) == dict.fromkeys(ids, 1)


async def kept_ids(pool: AsyncConnectionPool[Any], ids: list[str]) -> set[str]:
    """The ids of `ids` kept as webhook events."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM webhook_events WHERE id = ANY(%s)", (ids,))
        return {r[0] for r in await cur.fetchall()}


async def test_an_event_no_endpoints_filter_takes_leaves_the_outbox_without_being_kept(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    # The workspace's one endpoint (the fixture's) takes an event type that never occurs.
    await push(own_pool, target, "nobody@example.com")
    (unwanted,) = await outbox_ids(own_pool, target["workspace"])
    assert await drain(own_pool) >= 1
    assert await outbox_ids(own_pool, target["workspace"]) == []
    assert await kept_ids(own_pool, [unwanted]) == set()
    # An endpoint that takes only updates: the create is dropped, the update kept and
    # delivered under its outbox id.
    webhooks = Webhooks(own_pool, keys=KeyRing.parse(new_key_ring()), allow_private=True)
    endpoint, _ = await webhooks.create_endpoint(
        target["workspace"],
        EndpointSpec(url="http://example.com/updates", event_types=("record.updated",)),
    )
    await push(own_pool, target, "later@example.com")
    await push(own_pool, target, "nobody@example.com")
    created, updated = await outbox_ids(own_pool, target["workspace"])
    assert await drain(own_pool) >= 2
    assert await kept_ids(own_pool, [created, updated]) == {updated}
    assert await delivered_ids(own_pool, str(endpoint["id"])) == {updated: 1}


async def test_a_targeted_event_is_kept_only_when_its_endpoint_takes_it(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    webhooks = Webhooks(own_pool, keys=KeyRing.parse(new_key_ring()), allow_private=True)
    live, _ = await webhooks.create_endpoint(
        target["workspace"], EndpointSpec(url="http://example.com/live")
    )
    off, _ = await webhooks.create_endpoint(
        target["workspace"], EndpointSpec(url="http://example.com/off")
    )
    gone = {"id": "00000000-0000-4000-8000-000000000000"}
    ids = {name: f"msg_{secrets.token_hex(16)}" for name in ("live", "off", "gone")}
    async with own_pool.connection() as conn:
        await conn.execute(
            "UPDATE webhook_endpoints SET enabled = false WHERE id = %s", (off["id"],)
        )
        for name, endpoint in (("live", live), ("off", off), ("gone", gone)):
            await conn.execute(
                "INSERT INTO outbox_events (id, workspace_id, type, data, target)"
                " VALUES (%s, %s, 'transfer.completed', '{}', %s)",
                (
                    ids[name],
                    target["workspace"],
                    psycopg.types.json.Json(
                        {"endpoint_id": str(endpoint["id"]), "url": f"http://example.com/{name}"}
                    ),
                ),
            )
    assert await drain(own_pool) >= 3
    assert await kept_ids(own_pool, list(ids.values())) == {ids["live"]}
    # The live endpoint also takes the workspace's other events; this one once, by target.
    assert (await delivered_ids(own_pool, str(live["id"])))[ids["live"]] == 1
    assert await delivered_ids(own_pool, str(off["id"])) == {}


async def add_batch(
    pool: AsyncConnectionPool[Any], workspace: str, events: str, count: int = 3
) -> str:
    """A batch row (as an apply of stream requests writes one), its events as json text."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO outbox_events (workspace_id, type, data, events, event_count)"
            " VALUES (%s, 'batch', '{}', %s::json, %s) RETURNING id",
            (workspace, events, count),
        )
        return str((await cur.fetchone() or [""])[0])


async def kept_events(pool: AsyncConnectionPool[Any], workspace: str) -> list[tuple[Any, ...]]:
    """(id, type, data as text) of the workspace's webhook events, by type."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e.id, e.type, e.data::text FROM webhook_events e"
            " JOIN webhook_deliveries d ON d.event_id = e.id"
            " WHERE e.workspace_id = %s ORDER BY e.type",
            (workspace,),
        )
        return list(await cur.fetchall())


# Values as sent: an exact decimal, a big integer and spacing the take must not touch.
BATCH = (
    '[{"type": "record.created", "data": {"id": "a", "fields": {"n": 1.50}, "source": {}}},'
    ' {"type": "record.updated", "data": {"id": "b",  "fields": {"n": 12345678901234567890}}},'
    ' {"type": "request.completed", "data": {"request_id": "req_1", "status": "completed"}}]'
)


async def test_a_batch_rows_events_are_taken_once_each_with_an_id_of_its_own(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    endpoint = await subscriber(own_pool, target["workspace"])
    row = await add_batch(own_pool, target["workspace"], BATCH)
    # A notifier killed mid-take: the row stays, nothing is kept.
    conn = await psycopg.AsyncConnection.connect(url_of(own_pool))
    assert (await take_batch(conn, 100)).deliveries >= 3
    await conn.close()
    assert await outbox_ids(own_pool, target["workspace"]) == [row]

    async def taken() -> bool:
        await drain(own_pool)
        return await outbox_ids(own_pool, target["workspace"]) == []

    await until(taken, within=15, what="the batch row taken")
    kept = await kept_events(own_pool, target["workspace"])
    assert [(t, d) for _, t, d in kept] == [
        ("record.created", '{"id": "a", "fields": {"n": 1.50}, "source": {}}'),
        ("record.updated", '{"id": "b",  "fields": {"n": 12345678901234567890}}'),
        ("request.completed", '{"request_id": "req_1", "status": "completed"}'),
    ]
    ids = [i for i, _, _ in kept]
    assert len(set(ids)) == 3
    assert all(i.startswith("msg_") and len(i) == 36 for i in ids)
    assert await delivered_ids(own_pool, endpoint) == dict.fromkeys(ids, 1)
    assert await drain(own_pool) == 0
    assert await delivered_ids(own_pool, endpoint) == dict.fromkeys(ids, 1)


async def test_a_take_counts_a_batch_rows_events_against_its_limit(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    await subscriber(own_pool, target["workspace"])
    await add_batch(own_pool, target["workspace"], BATCH, 3)
    await push(own_pool, target, "one@example.com")
    await push(own_pool, target, "two@example.com")
    _, one, two = await outbox_ids(own_pool, target["workspace"])
    async with await psycopg.AsyncConnection.connect(url_of(own_pool), autocommit=True) as conn:
        # The batch row alone: its 3 events fill a take of 2 (the other rows stay).
        assert (await take_batch(conn, 2)).events == 3
        assert await outbox_ids(own_pool, target["workspace"]) == [one, two]
        assert (await take_batch(conn, 2)).events == 2
        assert await outbox_ids(own_pool, target["workspace"]) == []
    assert len(await kept_events(own_pool, target["workspace"])) == 5


async def test_a_batch_row_keeps_only_the_events_an_endpoint_takes(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    # The fixture's endpoint takes none of the batch's event types: none is kept.
    await add_batch(own_pool, target["workspace"], BATCH)
    assert await drain(own_pool) >= 1
    assert await outbox_ids(own_pool, target["workspace"]) == []
    assert await kept_events(own_pool, target["workspace"]) == []
    webhooks = Webhooks(own_pool, keys=KeyRing.parse(new_key_ring()), allow_private=True)
    endpoint, _ = await webhooks.create_endpoint(
        target["workspace"],
        EndpointSpec(url="http://example.com/done", event_types=("request.completed",)),
    )
    await add_batch(own_pool, target["workspace"], BATCH)
    assert await drain(own_pool) >= 1
    ((event_id, type_, _),) = await kept_events(own_pool, target["workspace"])
    assert type_ == "request.completed"
    assert await delivered_ids(own_pool, str(endpoint["id"])) == {event_id: 1}


async def test_an_event_id_already_kept_is_taken_without_a_second_fan_out(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    # The take writes webhook events with a plain insert; an id already kept (an event
    # also published straight in) makes it take the batch again, skipping that id.
    endpoint = await subscriber(own_pool, target["workspace"])
    await push(own_pool, target, "before@example.com")
    kept = f"msg_{secrets.token_hex(16)}"
    async with own_pool.connection() as conn:
        await conn.execute(
            "INSERT INTO webhook_events (id, workspace_id, type, occur_time, data)"
            " VALUES (%s, %s, 'record.created', now(), '{}')",
            (kept, target["workspace"]),
        )
        await conn.execute(
            "INSERT INTO outbox_events (id, workspace_id, type, data)"
            " VALUES (%s, %s, 'record.created', '{}')",
            (kept, target["workspace"]),
        )
    await push(own_pool, target, "after@example.com")
    ids = await outbox_ids(own_pool, target["workspace"])
    assert len(ids) == 3
    assert await drain(own_pool) >= 3
    assert await outbox_ids(own_pool, target["workspace"]) == []
    assert await delivered_ids(own_pool, endpoint) == {ids[0]: 1, ids[2]: 1}
    # The batches after it are plain again.
    await push(own_pool, target, "later@example.com")
    (later,) = await outbox_ids(own_pool, target["workspace"])
    assert await drain(own_pool) >= 1
    assert (await delivered_ids(own_pool, endpoint))[later] == 1


async def test_a_take_cut_off_before_its_commit_loses_and_doubles_nothing(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    endpoint = await subscriber(own_pool, target["workspace"])
    for i in range(3):
        await push(own_pool, target, f"cut{i}@example.com")
    ids = await outbox_ids(own_pool, target["workspace"])
    # A notifier killed mid-take: its connection goes without a commit.
    conn = await psycopg.AsyncConnection.connect(url_of(own_pool))
    taken = await take_batch(conn, 100)
    assert taken.events >= 3
    await conn.close()
    assert await outbox_ids(own_pool, target["workspace"]) == ids
    assert await delivered_ids(own_pool, endpoint) == {}

    async def taken_once() -> bool:
        # The dead take's row locks go when its backend has rolled back: until then
        # SKIP LOCKED passes its rows by.
        await drain(own_pool)
        return await delivered_ids(own_pool, endpoint) == dict.fromkeys(ids, 1)

    await until(taken_once, within=15, what="the events taken, each once")


async def test_notifiers_take_disjoint_batches_side_by_side(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    endpoint = await subscriber(own_pool, target["workspace"])
    for i in range(6):
        await push(own_pool, target, f"side{i}@example.com")
    ids = await outbox_ids(own_pool, target["workspace"])
    async with await psycopg.AsyncConnection.connect(url_of(own_pool)) as slow:
        async with slow.transaction():
            first = await take_batch(slow, 2)
            # The other notifier is not held up by the rows the first has locked.
            second = await asyncio.wait_for(drain(own_pool), timeout=10)
        assert first.events == 2
    assert second >= 4
    assert await delivered_ids(own_pool, endpoint) == dict.fromkeys(ids, 1)


async def test_a_committed_event_wakes_the_listening_notifier(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    woken = asyncio.Event()
    listener = Listener(url_of(own_pool), {"inlet_outbox": woken.set})
    listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), timeout=10)
        woken.clear()  # every (re)connect wakes once
        await push(own_pool, target, "wake@example.com")
        await asyncio.wait_for(woken.wait(), timeout=10)
    finally:
        await listener.stop()
        await drain(own_pool)
