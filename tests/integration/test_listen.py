"""The LISTEN connection: notifications reach their channel's callback at once, channels
added later are listened to, and a lost connection is reopened with every callback called."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import psycopg
import pytest

from inlet_common.listen import Listener
from tests.polling import until


@pytest.fixture
def channel() -> str:
    return f"inlet_test_{secrets.token_hex(4)}"


@pytest.fixture
async def listener(database_url: str) -> AsyncIterator[Listener]:
    found = Listener(database_url, max_backoff_seconds=0.2)
    yield found
    await found.stop()


async def notify(database_url: str, channel: str, *payloads: str) -> None:
    """One transaction sending each payload on `channel` (delivered at its commit)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for payload in payloads:
            await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


async def test_notifications_reach_their_callback_with_their_payloads(
    database_url: str, listener: Listener, channel: str
) -> None:
    heard: list[str | None] = []
    other: list[str | None] = []
    listener.add(channel, heard.append)
    listener.add(f"{channel}_other", other.append)
    await until(lambda: heard == [None] and other == [None], what="the connect wake-ups")

    await notify(database_url, channel, "a", "b", "c")

    await until(lambda: heard == [None, "a", "b", "c"], what="the three notifications")
    assert other == [None]


async def test_a_fixed_wake_is_called_without_the_payload(database_url: str, channel: str) -> None:
    woken: list[int] = []
    listener = Listener(database_url, {channel: lambda: woken.append(1)})
    listener.start()
    try:
        await until(lambda: woken == [1], what="the connect wake-up")
        await notify(database_url, channel, "ignored")
        await until(lambda: woken == [1, 1], what="the notification's wake-up")
    finally:
        await listener.stop()


async def test_a_channel_added_while_listening_is_listened_to_at_once(
    database_url: str, listener: Listener, channel: str
) -> None:
    first: list[str | None] = []
    listener.add(channel, first.append)
    await until(listener.connected.is_set, what="the listener to connect")
    later: list[str | None] = []

    listener.add(f"{channel}_later", later.append)
    # Called once LISTENing: what committed before is for the callee to look at.
    await until(lambda: later == [None], what="the added channel's first call")
    await notify(database_url, f"{channel}_later", "x")

    await until(lambda: later == [None, "x"], what="the added channel's notification")
    assert first == [None]


async def test_a_lost_connection_is_reopened_and_every_callback_called_again(
    database_url: str, listener: Listener, channel: str
) -> None:
    heard: list[str | None] = []
    listener.add(channel, heard.append)
    await until(lambda: heard == [None], what="the first connect")

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        cur = await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s",
            (f'LISTEN "{channel}"',),
        )
        assert [row[0] for row in await cur.fetchall()] == [True]

    # Notifications meanwhile are gone: the reconnect calls back with None instead.
    await until(lambda: heard == [None, None], what="the call after reconnecting")
    await notify(database_url, channel, "after")
    await until(lambda: heard == [None, None, "after"], what="a notification after it")


async def test_a_stopped_listener_is_not_restarted_by_a_new_channel(
    database_url: str, listener: Listener, channel: str
) -> None:
    heard: list[str | None] = []
    listener.add(channel, heard.append)
    await until(lambda: heard == [None], what="the first connect")
    await listener.stop()

    listener.add(f"{channel}_late", heard.append)

    assert not listener.running
