"""Wake-ups only when there is something to wake for, and then at once: an outbox take that
adds no deliveries does not notify the delivery workers, one that adds some does, and a
worker whose fallback poll is an hour away delivers what another notifier added."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from inlet_common.listen import Listener
from inlet_notifier.delivery import Worker
from inlet_notifier.outbox.repository import take_batch
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from tests.integration.webhook_fixtures import FAST, own_database, url_of
from tests.polling import until
from tests.webhook_receiver import Receiver, event

# A database of its own: no other test's notifier adds deliveries meanwhile.
own_pool = own_database("inlet_wakeups", max_size=10)

DELIVERIES = "inlet_webhook_deliveries"
SENTINEL = "inlet_test_sentinel"


async def heard_before_sentinel(url: str, listening: psycopg.AsyncConnection[Any]) -> list[str]:
    """The channels notified before a sentinel sent now (commit order is delivery order)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"NOTIFY {SENTINEL}")
    heard: list[str] = []
    async for note in listening.notifies(timeout=10):
        if note.channel == SENTINEL:
            return heard
        heard.append(note.channel)
    raise AssertionError("the sentinel notification never came")


async def take(pool: AsyncConnectionPool[Any]) -> tuple[int, int]:
    async with pool.connection() as conn:
        taken = await take_batch(conn, 500)
    return taken.events, taken.deliveries


async def test_a_take_that_adds_deliveries_notifies_and_an_empty_one_does_not(
    own_pool: AsyncConnectionPool[Any], workspace: str, webhooks: Webhooks
) -> None:
    url = url_of(own_pool)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as listening:
        await listening.execute(f"LISTEN {DELIVERIES}")
        await listening.execute(f"LISTEN {SENTINEL}")

        assert await take(own_pool) == (0, 0)
        assert await heard_before_sentinel(url, listening) == []

        await webhooks.create_endpoint(workspace, EndpointSpec(url="https://example.com/hook"))
        async with own_pool.connection() as conn:
            await conn.execute(
                "INSERT INTO outbox_events (workspace_id, type, data)"
                " VALUES (%s, 'record.created', '{}')",
                (workspace,),
            )
        assert await take(own_pool) == (1, 1)
        assert await heard_before_sentinel(url, listening) == [DELIVERIES]
        # Cleared for the module's other tests: nobody delivers to example.com here.
        async with own_pool.connection() as conn:
            await conn.execute(
                "DELETE FROM webhook_endpoints WHERE workspace_id = %s", (workspace,)
            )


def delivered(receiver: Receiver, count: int) -> Callable[[], bool]:
    return lambda: len(receiver.at("/woken")) == count


async def test_a_worker_with_an_hour_to_its_poll_delivers_what_another_notifier_added_at_once(
    own_pool: AsyncConnectionPool[Any],
    workspace: str,
    webhooks: Webhooks,
    receiver: Receiver,
    workers: Callable[..., Worker],
) -> None:
    worker = workers(replace(FAST, poll=3600.0))
    listener = Listener(url_of(own_pool), {DELIVERIES: worker.nudge})
    listener.start()
    try:
        await until(listener.connected.is_set, what="the worker's LISTEN connection")
        url = receiver.script("/woken")
        await webhooks.create_endpoint(workspace, EndpointSpec(url=url))

        # `webhooks` has no wake-up of its own here: as another notifier's, its deliveries
        # reach this worker only through their NOTIFY.
        for count, name in enumerate(("Ada", "Grace"), start=1):
            assert await webhooks.publish([event(workspace, name=name)]) == 1
            await until(delivered(receiver, count), what=f"{name}'s delivery")
    finally:
        await listener.stop()
