"""Webhook retention: the notifier's janitor deletes finished deliveries (with their
attempts), the events left without any and old operational events, in batches, one
notifier at a time."""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY
from psycopg_pool import AsyncConnectionPool

from inlet_notifier import repository as repo
from inlet_notifier import retention
from inlet_notifier.delivery import Worker
from inlet_notifier.retention import Janitor
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from tests.integration.webhook_fixtures import FAST, KEYS, RING, own_database, url_of
from tests.polling import until
from tests.webhook_receiver import Answer, Receiver, event, new_workspace, start_notifier

DAY = 86400
RETENTION = 30 * DAY

# A database of its own: what it ages and prunes is nobody else's (the e2e stack's
# notifier runs its own janitor on the shared database).
own_pool = own_database("inlet_webhook_retention", max_size=10)


@pytest.fixture(autouse=True)
async def no_webhook_rows(own_pool: AsyncConnectionPool[Any]) -> None:
    """Each test counts what a pass deletes: it starts with no events or deliveries."""
    await sql(
        own_pool,
        "TRUNCATE webhook_attempts, webhook_deliveries, webhook_events, webhook_operational_events",
    )


# -- helpers --------------------------------------------------------------------------------


async def sql(pool: AsyncConnectionPool[Any], query: str, *params: Any) -> list[Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall() if cur.description else []


async def endpoint(webhooks: Webhooks, workspace: str, url: str = "http://example.com/") -> str:
    created, _ = await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
    return str(created["id"])


async def publish(webhooks: Webhooks, workspace: str, count: int = 1) -> list[str]:
    """`count` new events for the workspace (a pending delivery to each of its endpoints)."""
    sent = [event(workspace) for _ in range(count)]
    await webhooks.publish(sent)
    return [e.id for e in sent]


async def finish(
    pool: AsyncConnectionPool[Any], event_ids: list[str], status: str, attempts: int = 0
) -> None:
    """The events' deliveries end `status` after `attempts` attempts (as a worker would)."""
    await sql(
        pool,
        "UPDATE webhook_deliveries SET status = %s, attempt_count = %s, update_time = now()"
        " WHERE event_id = ANY(%s)",
        status,
        attempts,
        event_ids,
    )
    await sql(
        pool,
        "INSERT INTO webhook_attempts (delivery_id, worker, start_time, end_time, status_code,"
        " latency_ms)"
        " SELECT d.id, 'test', now(), now(), 200, 1"
        "   FROM webhook_deliveries d, generate_series(1, %s)"
        "  WHERE d.event_id = ANY(%s)",
        attempts,
        event_ids,
    )


async def age(pool: AsyncConnectionPool[Any], event_ids: list[str], seconds: int) -> None:
    """Move the events and their deliveries `seconds` into the past."""
    await sql(
        pool,
        "UPDATE webhook_events SET receive_time = receive_time - make_interval(secs => %s),"
        " occur_time = occur_time - make_interval(secs => %s) WHERE id = ANY(%s)",
        seconds,
        seconds,
        event_ids,
    )
    await sql(
        pool,
        "UPDATE webhook_deliveries SET create_time = create_time - make_interval(secs => %s),"
        " update_time = update_time - make_interval(secs => %s),"
        " next_attempt_time = next_attempt_time - make_interval(secs => %s)"
        " WHERE event_id = ANY(%s)",
        seconds,
        seconds,
        seconds,
        event_ids,
    )


async def kept(pool: AsyncConnectionPool[Any], event_ids: list[str]) -> dict[str, int]:
    """What is left of the events: rows per table (in the shape of a pass's counts)."""
    rows = await sql(
        pool,
        "SELECT (SELECT count(*) FROM webhook_events WHERE id = ANY(%s)),"
        "       (SELECT count(*) FROM webhook_deliveries WHERE event_id = ANY(%s)),"
        "       (SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d"
        "          ON d.id = a.delivery_id WHERE d.event_id = ANY(%s))",
        event_ids,
        event_ids,
        event_ids,
    )
    events, deliveries, attempts = rows[0]
    return deleted(events=events, deliveries=deliveries, attempts=attempts)


def deleted(**counts: int) -> dict[str, int]:
    """A pass's counts: these tables as given, the others 0."""
    return {**dict.fromkeys(retention.TABLES, 0), **{f"webhook_{t}": n for t, n in counts.items()}}


def deleted_metric(table: str) -> float:
    found = REGISTRY.get_sample_value(
        "inlet_webhook_retention_rows_deleted_total", {"table": table}
    )
    return found or 0.0


def passes_metric(outcome: str) -> float:
    found = REGISTRY.get_sample_value("inlet_webhook_retention_passes_total", {"outcome": outcome})
    return found or 0.0


# -- what goes, what stays ------------------------------------------------------------------


async def test_old_finished_deliveries_go_with_their_attempts_and_their_events(
    webhooks: Webhooks,
    workspace: str,
    receiver: Receiver,
    workers: Callable[..., Worker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Delivered for real: one endpoint answers 200, the other 500 until its two attempts
    # are spent (failed).
    await endpoint(webhooks, workspace, receiver.script("/ok"))
    await endpoint(webhooks, workspace, receiver.script("/down", then=Answer(500)))
    workers(replace(FAST, schedule=(0, 0.01)))
    old = await publish(webhooks, workspace)
    recent = await publish(webhooks, workspace)

    async def all_finished() -> bool:
        rows = await sql(
            webhooks.pool,
            "SELECT d.status, count(*) FROM webhook_deliveries d"
            " JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE e.workspace_id = %s"
            " GROUP BY d.status ORDER BY d.status",
            workspace,
        )
        return rows == [("failed", 2), ("succeeded", 2)]

    await until(all_finished, what="four finished deliveries")
    assert await kept(webhooks.pool, old) == deleted(events=1, deliveries=2, attempts=3)
    await age(webhooks.pool, old, RETENTION + 60)
    before = {table: deleted_metric(table) for table in retention.TABLES}

    with caplog.at_level(logging.INFO, logger="inlet_notifier.retention"):
        counts = await Janitor(webhooks.pool, RETENTION).prune_once()

    assert counts == deleted(events=1, deliveries=2, attempts=3)
    assert await kept(webhooks.pool, old) == deleted()
    assert await kept(webhooks.pool, recent) == deleted(events=1, deliveries=2, attempts=3)
    for table in retention.TABLES:
        assert deleted_metric(table) == before[table] + counts[table]
    [line] = [r for r in caplog.records if r.name == "inlet_notifier.retention"]
    assert line.getMessage() == "webhook retention pass deleted rows"
    assert getattr(line, "deleted", None) == {t: n for t, n in counts.items() if n}
    # A second pass finds nothing: no line.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="inlet_notifier.retention"):
        assert await Janitor(webhooks.pool, RETENTION).prune_once() == deleted()
    assert not [r for r in caplog.records if r.name == "inlet_notifier.retention"]


async def test_pending_leased_and_recent_deliveries_stay_however_old_their_events(
    webhooks: Webhooks, workspace: str
) -> None:
    pool = webhooks.pool
    # Pending forever: its endpoint was disabled before it could be delivered.
    disabled = await endpoint(webhooks, workspace)
    finished = await endpoint(webhooks, workspace)
    pending = await publish(webhooks, workspace)
    await sql(
        pool,
        "UPDATE webhook_deliveries SET status = 'succeeded', update_time = now()"
        " WHERE endpoint_id = %s",
        finished,
    )
    await sql(pool, "UPDATE webhook_endpoints SET enabled = false WHERE id = %s", disabled)
    # Under lease: claimed by a worker (the only enabled endpoint with anything due).
    leased_in = await new_workspace(pool)
    await endpoint(webhooks, leased_in)
    leased = await publish(webhooks, leased_in)
    claimer = Worker(pool, replace(FAST, lease=3600), keys=KEYS)
    try:
        [claim] = await claimer.claim(10)
    finally:
        await claimer.poster.close()
    assert claim["event_id"] == leased[0]
    # Finished yet under a live lease (no worker leaves one so; never pruned all the same).
    odd_in = await new_workspace(pool)
    await endpoint(webhooks, odd_in)
    odd = await publish(webhooks, odd_in)
    await finish(pool, odd, "succeeded", attempts=1)
    await sql(
        pool,
        "UPDATE webhook_deliveries SET lease_owner = 'w', lease_until = now() + interval '1 hour'"
        " WHERE event_id = ANY(%s)",
        odd,
    )
    # Finished just now, for an old event (a replay that failed again, say).
    recent_in = await new_workspace(pool)
    await endpoint(webhooks, recent_in)
    recent = await publish(webhooks, recent_in)
    everything = pending + leased + odd + recent
    await age(pool, everything, 3000 * DAY)
    await finish(pool, recent, "failed", attempts=2)
    statuses = await sql(
        pool,
        "SELECT status, coalesce(lease_until > now(), false) AS leased FROM webhook_deliveries"
        " ORDER BY 1, 2",
    )
    assert statuses == [
        ("failed", False),
        ("pending", False),
        ("pending", True),
        ("succeeded", False),
        ("succeeded", True),
    ]

    # The shortest retention there is (an hour).
    counts = await Janitor(pool, 3600).prune_once()

    # Only the old finished delivery beside the pending one goes; every event stays, each
    # still referred to.
    assert counts == deleted(deliveries=1)
    assert await kept(pool, pending) == deleted(events=1, deliveries=1)
    assert await kept(pool, leased) == deleted(events=1, deliveries=1)
    assert await kept(pool, odd) == deleted(events=1, deliveries=1, attempts=1)
    assert await kept(pool, recent) == deleted(events=1, deliveries=1, attempts=2)


async def test_events_no_endpoint_wanted_go_once_old(webhooks: Webhooks, workspace: str) -> None:
    old = await publish(webhooks, workspace, 3)
    young = await publish(webhooks, workspace, 2)
    await age(webhooks.pool, old, RETENTION + 60)
    await age(webhooks.pool, young, RETENTION - 60)

    assert await Janitor(webhooks.pool, RETENTION).prune_once() == deleted(events=3)
    assert await kept(webhooks.pool, old) == deleted()
    assert await kept(webhooks.pool, young) == deleted(events=2)


async def test_old_operational_events_go_in_batches(
    webhooks: Webhooks, workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = webhooks.pool
    endpoint_id = await endpoint(webhooks, workspace)

    async def told(count: int, seconds_ago: int) -> None:
        await sql(
            pool,
            "INSERT INTO webhook_operational_events"
            " (workspace_id, endpoint_id, type, message, create_time)"
            " SELECT %s, %s, 'endpoint.disabled', 'n' || n, now() - make_interval(secs => %s)"
            "   FROM generate_series(1, %s) n",
            workspace,
            endpoint_id,
            seconds_ago,
            count,
        )

    await told(5, RETENTION + 60)
    await told(2, RETENTION - 60)
    ages = "SELECT count(*) FILTER (WHERE create_time < now() - interval '30 days'), count(*)"
    ages += " FROM webhook_operational_events"

    # 0 keeps them forever.
    assert await Janitor(pool, 0).prune_once() == deleted()
    assert await sql(pool, ages) == [(5, 7)]

    batches: list[int] = []
    execute = repo.execute

    async def recording_execute(conn: repo.Conn, name: str, **params: Any) -> int:
        found = await execute(conn, name, **params)
        if name == "prune_operational_events":
            batches.append(found)
        return found

    monkeypatch.setattr(repo, "execute", recording_execute)
    counts = await Janitor(pool, RETENTION, operational_batch_size=2).prune_once()

    assert counts == deleted(operational_events=5)
    assert batches == [2, 2, 1]
    # The old ones went, the recent ones stay.
    assert await sql(pool, ages) == [(0, 2)]


async def test_zero_keeps_everything_forever(webhooks: Webhooks, workspace: str) -> None:
    await endpoint(webhooks, workspace)
    ancient = await publish(webhooks, workspace, 2)
    await finish(webhooks.pool, ancient, "succeeded", attempts=1)
    await age(webhooks.pool, ancient, 3650 * DAY)

    forever = Janitor(webhooks.pool, 0, interval_seconds=0.01)
    assert await forever.prune_once() == deleted()
    forever.start()  # nothing to run: no task, no pass
    await forever.stop()
    assert forever._task is None
    assert await kept(webhooks.pool, ancient) == deleted(events=2, deliveries=2, attempts=2)

    # The same rows go as soon as retention is set.
    counts = await Janitor(webhooks.pool, RETENTION).prune_once()
    assert counts == deleted(events=2, deliveries=2, attempts=2)


async def test_more_rows_than_a_batch_are_all_deleted(
    webhooks: Webhooks, workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await endpoint(webhooks, workspace)
    delivered = await publish(webhooks, workspace, 23)
    await finish(webhooks.pool, delivered, "succeeded", attempts=2)
    unwanted = await publish(webhooks, await new_workspace(webhooks.pool), 9)
    await age(webhooks.pool, delivered + unwanted, RETENTION + 60)
    batches = record_batches(monkeypatch)

    janitor = Janitor(webhooks.pool, RETENTION, delivery_batch_size=7, event_batch_size=4)
    counts = await janitor.prune_once()

    assert counts == deleted(deliveries=23, attempts=46, events=32)
    assert batches["prune_webhook_deliveries"] == [7, 7, 7, 2]
    assert batches["prune_webhook_events"] == [4, 4, 4, 4, 4, 4, 4, 4, 0]
    assert await kept(webhooks.pool, delivered + unwanted) == deleted()


async def test_old_events_still_referred_to_do_not_end_a_pass_early(
    webhooks: Webhooks, workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Oldest first: events with a pending delivery, then events with none, interleaved.
    disabled = await endpoint(webhooks, workspace)
    referred = await publish(webhooks, workspace, 5)
    await sql(webhooks.pool, "UPDATE webhook_endpoints SET enabled = false WHERE id = %s", disabled)
    alone = await publish(webhooks, workspace, 5)
    for n, (a, b) in enumerate(zip(referred, alone, strict=True)):
        await age(webhooks.pool, [a], RETENTION + 100 - 2 * n)
        await age(webhooks.pool, [b], RETENTION + 99 - 2 * n)
    batches = record_batches(monkeypatch)

    counts = await Janitor(webhooks.pool, RETENTION, event_batch_size=2).prune_once()

    assert counts == deleted(events=5)
    assert batches["prune_webhook_events"] == [2, 2, 1]
    assert await kept(webhooks.pool, alone) == deleted()
    assert await kept(webhooks.pool, referred) == deleted(events=5, deliveries=5)


def record_batches(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """How many rows each retention statement deleted, in order, by statement."""
    seen: dict[str, list[int]] = {"prune_webhook_deliveries": [], "prune_webhook_events": []}
    row = repo.row

    async def recording_row(conn: repo.Conn, name: str, **params: Any) -> dict[str, Any] | None:
        found = await row(conn, name, **params)
        counted = {"prune_webhook_deliveries": "deliveries", "prune_webhook_events": "events"}
        if name in counted:
            assert found is not None, name
            seen[name].append(found[counted[name]])
        return found

    monkeypatch.setattr(repo, "row", recording_row)
    return seen


# -- one notifier at a time, in the background ----------------------------------------------


async def old_finished(webhooks: Webhooks, workspace: str, count: int) -> list[str]:
    """`count` events with one succeeded delivery each (one attempt), past retention."""
    await endpoint(webhooks, workspace)
    ids = await publish(webhooks, workspace, count)
    await finish(webhooks.pool, ids, "succeeded", attempts=1)
    await age(webhooks.pool, ids, RETENTION + 60)
    return ids


async def test_two_janitors_never_prune_at_once(webhooks: Webhooks, workspace: str) -> None:
    pool = webhooks.pool
    ids = await old_finished(webhooks, workspace, 5)
    first = Janitor(pool, RETENTION)
    second = Janitor(pool, RETENTION)
    skipped = passes_metric("skipped")
    async with pool.connection() as blocker, blocker.transaction():
        # Hold one of the doomed rows: the first janitor's delete waits on it mid-pass.
        await blocker.execute(
            "SELECT id FROM webhook_deliveries WHERE event_id = %s FOR UPDATE", (ids[0],)
        )
        pass_in_progress = asyncio.create_task(first.prune_once())

        async def first_is_waiting() -> bool:
            rows = await sql(
                pool,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE '%%DELETE FROM webhook_deliveries%%'",
            )
            return bool(rows[0][0])

        await until(first_is_waiting, what="the first pass to wait on the held row")
        # Another notifier's pass now: it skips rather than prune alongside (a pass that
        # did not skip would wait on the held row: the deadline turns that into a failure).
        assert await asyncio.wait_for(second.prune_once(), 10) is None
        assert passes_metric("skipped") == skipped + 1
    assert await pass_in_progress == deleted(events=5, deliveries=5, attempts=5)
    # The lock went with the pass: the next one runs (and finds nothing left).
    assert await second.prune_once() == deleted()


async def test_the_store_janitors_lock_does_not_hold_the_notifiers_back(
    webhooks: Webhooks, workspace: str
) -> None:
    await old_finished(webhooks, workspace, 2)
    async with await psycopg.AsyncConnection.connect(
        url_of(webhooks.pool), autocommit=True
    ) as store:
        # The store's janitor mid-pass (inlet_store's retention.sql names its lock).
        await store.execute("SELECT pg_advisory_lock(hashtext('inlet.store.retention'))")
        counts = await Janitor(webhooks.pool, RETENTION).prune_once()
    assert counts == deleted(events=2, deliveries=2, attempts=2)


async def test_the_janitor_prunes_in_the_background_until_stopped(
    webhooks: Webhooks, workspace: str
) -> None:
    janitor = Janitor(webhooks.pool, RETENTION, interval_seconds=0.05)
    janitor.start()
    try:
        # Whichever pass comes after the ageing takes them.
        ids = await old_finished(webhooks, workspace, 3)

        async def gone() -> bool:
            return await kept(webhooks.pool, ids) == deleted()

        await until(gone, what="the background pass")
    finally:
        await janitor.stop()
    assert janitor._task is not None
    assert janitor._task.done()


@pytest.mark.e2e
async def test_the_notifier_process_prunes_and_stops_on_sigterm(
    webhooks: Webhooks, workspace: str
) -> None:
    ids = await old_finished(webhooks, workspace, 2)
    process = await start_notifier(
        url_of(webhooks.pool),
        Path(tempfile.mkdtemp(prefix="inlet-notifier-")) / "port",
        {
            "INLET_WEBHOOK_SECRET_KEYS": RING,
            "INLET_WEBHOOK_RETENTION_SECONDS": str(RETENTION),
            "INLET_RETENTION_INTERVAL_SECONDS": "1",
        },
        stderr=asyncio.subprocess.PIPE,
    )
    try:

        async def gone() -> bool:
            return await kept(webhooks.pool, ids) == deleted()

        await until(gone, what="the notifier's retention pass")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert b"webhook retention pass deleted rows" in err
