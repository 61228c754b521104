"""The outbox: written in the change's transaction, relayed at least once, deduplicated."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from inlet.notifier.v1 import notifier_pb2
from inlet_common.channels import channel
from inlet_common.errors import Unauthenticated
from inlet_devstack import postgres
from inlet_notifier import app as notifier_app
from inlet_notifier.secrets_at_rest import KeyRing, new_key_ring
from inlet_notifier.server import TokenWorkspace
from inlet_notifier.service import EndpointSpec, Webhooks
from inlet_store import app as store_app
from inlet_store.errors import MissingRequired
from inlet_store.migrations import migrate
from inlet_store.push.repository import PgPushRepository
from inlet_store.push.use_case import PushCommitter
from inlet_store.relay import Relay, grpc_publisher
from tests.push_commit_support import commit, planned


@pytest.fixture(scope="module")
async def own_pool(server_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """A database of its own, so no other relay (the e2e store's) takes these rows."""
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


async def _deny(header: str | None) -> TokenWorkspace:
    raise Unauthenticated("not in this test")


async def test_relay_crash_after_publish_republishes_and_the_notifier_dedupes(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    webhooks = Webhooks(own_pool, keys=KeyRing.parse(new_key_ring()), allow_private=True)
    endpoint, _ = await webhooks.create_endpoint(
        target["workspace"], EndpointSpec(url="http://example.com/hook")
    )
    notifier = await notifier_app.start(webhooks, _deny, "127.0.0.1:0")
    try:
        async with channel(f"127.0.0.1:{notifier.port}") as ch:
            publish = grpc_publisher(ch, timeout=5)
            for i in range(3):
                await push(own_pool, target, f"p{i}@example.com")
            published: list[str] = []

            async def then_crash(events: Sequence[notifier_pb2.Event]) -> None:
                await publish(events)
                published.extend(e.id for e in events if e.workspace_id == target["workspace"])
                raise ConnectionError("relay died before deleting its rows")

            with pytest.raises(ConnectionError):
                await Relay(own_pool, then_crash).relay_once()
            assert len(await outbox_rows(own_pool, target["workspace"])) == 3
            relay = Relay(own_pool, publish)
            while await relay.relay_once():
                pass
            assert await outbox_rows(own_pool, target["workspace"]) == []
        async with own_pool.connection() as conn:
            cur = await conn.execute(
                "SELECT ev.id, count(d.id) FROM webhook_events ev"
                "  JOIN webhook_deliveries d ON d.event_id = ev.id"
                " WHERE d.endpoint_id = %s GROUP BY ev.id",
                (endpoint["id"],),
            )
            counts = dict(await cur.fetchall())
        assert set(published) == set(counts)
        assert len(counts) == 3
        assert set(counts.values()) == {1}
    finally:
        await notifier.stop(0)


async def test_relay_keeps_rows_while_the_notifier_is_down(
    own_pool: AsyncConnectionPool[Any], target: dict[str, str]
) -> None:
    await push(own_pool, target, "down@example.com")
    async with channel("127.0.0.1:9") as ch:  # nothing listens there
        with pytest.raises(Exception, match=r"UNAVAILABLE|unavailable|connect"):
            await Relay(own_pool, grpc_publisher(ch, timeout=1)).relay_once()
    assert len(await outbox_rows(own_pool, target["workspace"])) >= 1
