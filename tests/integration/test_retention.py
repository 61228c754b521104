"""Retention: the store's janitor deletes finished stream requests (with their item
outcomes) and old connector/activity log entries, in batches, one store at a time."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY
from psycopg_pool import AsyncConnectionPool

from inlet.admin.v1 import streams_pb2
from inlet.ingest.v1 import ingest_pb2
from inlet.store.v1 import store_pb2
from inlet_common.credentials import token_hash
from inlet_common.errors import reason_of, status_from_rpc_error
from inlet_devstack import demo
from inlet_store import repository as repo
from inlet_store import retention
from inlet_store.retention import Janitor, Retention
from tests.messages import activity, as_dict, push, stream_request
from tests.polling import until
from tests.stream_support import (
    SEED_BATCH,
    SalesStream,
    StreamServers,
    finished,
    own_database,
    sales_stream,
    seed_workspace,
    stream_servers,
)

DAY = 86400
REQUESTS = 30 * DAY
LOGS = 90 * DAY


@pytest.fixture(scope="module")
async def own_pool(server_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """A database of this module's own: what it ages and prunes is nobody else's (the e2e
    stack's store runs its own janitor on the shared database)."""
    async with own_database(server_url, "inlet_retention") as pool:
        yield pool


@pytest.fixture(scope="module")
async def rs(own_pool: AsyncConnectionPool[Any]) -> AsyncIterator[StreamServers]:
    async with stream_servers(own_pool) as servers:
        yield servers


@pytest.fixture
async def seed(rs: StreamServers) -> demo.DemoSeed:
    return await seed_workspace(rs, "r")


@pytest.fixture
async def sales(rs: StreamServers, seed: demo.DemoSeed) -> SalesStream:
    return await sales_stream(rs.admin, rs.streams, seed)


# -- helpers --------------------------------------------------------------------------------


async def accept(rs: StreamServers, key: str, items: list[Any]) -> str:
    request = stream_request(items)
    answer = as_dict(await rs.ingest.IngestStream(request, metadata=demo.bearer(key)))
    request_id: str = answer["data"]["request_id"]
    return request_id


async def finished_request(rs: StreamServers, key: str, items: list[Any]) -> str:
    """A request accepted and processed by the workers (completed or failed)."""
    request_id = await accept(rs, key, items)
    await finished(rs, key, request_id)
    return request_id


async def sql(pool: AsyncConnectionPool[Any], query: str, *params: Any) -> list[Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall() if cur.description else []


async def age_requests(pool: AsyncConnectionPool[Any], ids: list[str], seconds: int) -> None:
    """Move requests into the past: accepted, started and finished `seconds` ago."""
    await sql(
        pool,
        "UPDATE stream_requests SET create_time = now() - make_interval(secs => %s),"
        " start_time = now() - make_interval(secs => %s),"
        " finish_time = CASE WHEN finish_time IS NULL THEN NULL"
        "                    ELSE now() - make_interval(secs => %s) END"
        " WHERE id = ANY(%s)",
        seconds + 2,
        seconds + 1,
        seconds,
        ids,
    )


async def request_ids(pool: AsyncConnectionPool[Any], ids: list[str]) -> set[str]:
    rows = await sql(pool, "SELECT id FROM stream_requests WHERE id = ANY(%s)", ids)
    return {r[0] for r in rows}


async def item_count(pool: AsyncConnectionPool[Any], request_id: str) -> int:
    rows = await sql(
        pool, "SELECT count(*) FROM stream_request_items WHERE request_id = %s", request_id
    )
    return int(rows[0][0])


async def stream_id(pool: AsyncConnectionPool[Any], sales: SalesStream) -> str:
    rows = await sql(pool, "SELECT id::text FROM streams WHERE slug = %s", sales.slug)
    return str(rows[0][0])


async def endpoint_id(pool: AsyncConnectionPool[Any], token: str) -> str:
    rows = await sql(
        pool, "SELECT id::text FROM ingest_endpoints WHERE token_hash = %s", token_hash(token)
    )
    return str(rows[0][0])


async def connector_log(rs: StreamServers, seed: demo.DemoSeed, sales: SalesStream) -> list[Any]:
    got = await rs.streams.ListConnectorLogEntries(
        streams_pb2.ListConnectorLogEntriesRequest(parent=sales.name), metadata=seed.auth
    )
    return [as_dict(e) for e in got.connector_log_entries]


def deleted_metric(table: str) -> float:
    found = REGISTRY.get_sample_value("inlet_retention_rows_deleted_total", {"table": table})
    return found or 0.0


def passes_metric(outcome: str) -> float:
    found = REGISTRY.get_sample_value("inlet_retention_passes_total", {"outcome": outcome})
    return found or 0.0


def nothing() -> dict[str, int]:
    return dict.fromkeys(retention.TABLES, 0)


async def status_error(rs: StreamServers, key: str, request_id: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rs.store.GetStreamRequestStatus(
            store_pb2.GetStreamRequestStatusRequest(ingest_key=key, request_id=request_id)
        )
    return caught.value


# -- stream requests ------------------------------------------------------------------------


async def test_finished_requests_past_retention_go_with_their_items(
    rs: StreamServers, sales: SalesStream, caplog: pytest.LogCaptureFixture
) -> None:
    old, recent, just_over = [await finished_request(rs, sales.key, SEED_BATCH) for _ in range(3)]
    await age_requests(rs.pool, [old], 400 * DAY)
    await age_requests(rs.pool, [recent], REQUESTS - 3600)
    await age_requests(rs.pool, [just_over], REQUESTS + 60)
    assert await item_count(rs.pool, old) == 3
    before = {t: deleted_metric(t) for t in retention.TABLES}
    caplog.set_level(logging.INFO, logger="inlet_store.retention")

    counts = await Janitor(rs.pool, Retention(REQUESTS, LOGS)).prune_once()

    assert counts == {**nothing(), "stream_requests": 2, "stream_request_items": 6}
    assert await request_ids(rs.pool, [old, recent, just_over]) == {recent}
    assert await item_count(rs.pool, old) == 0
    assert await item_count(rs.pool, just_over) == 0
    assert await item_count(rs.pool, recent) == 3
    assert deleted_metric("stream_requests") - before["stream_requests"] == 2
    assert deleted_metric("stream_request_items") - before["stream_request_items"] == 6
    assert deleted_metric("connector_log_entries") == before["connector_log_entries"]
    [line] = [r for r in caplog.records if r.name == "inlet_store.retention"]
    assert line.getMessage() == "retention pass deleted rows"
    assert getattr(line, "deleted", None) == {"stream_requests": 2, "stream_request_items": 6}


async def test_a_pruned_request_is_not_found_like_an_unknown_one(
    rs: StreamServers, sales: SalesStream
) -> None:
    pruned = await finished_request(rs, sales.key, SEED_BATCH)
    await age_requests(rs.pool, [pruned], REQUESTS + 60)
    await Janitor(rs.pool, Retention(REQUESTS, 0)).prune_once()

    gone = await status_error(rs, sales.key, pruned)
    unknown = await status_error(rs, sales.key, "req_" + secrets.token_hex(13))
    for error in (gone, unknown):
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert reason_of(status_from_rpc_error(error)) == "REQUEST_NOT_FOUND"
    # The public API (matcher → store) answers the same.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rs.ingest.GetIngestRequestStatus(
            ingest_pb2.GetIngestRequestStatusRequest(request_id=pruned),
            metadata=demo.bearer(sales.key),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(status_from_rpc_error(caught.value)) == "REQUEST_NOT_FOUND"


async def test_queued_and_processing_requests_are_kept_however_old(
    rs: StreamServers, sales: SalesStream
) -> None:
    processed = await finished_request(rs, sales.key, SEED_BATCH)
    await rs.workers.stop()  # this test holds requests in the inbox
    waiting: list[str] = []
    try:
        waiting = [await accept(rs, sales.key, SEED_BATCH) for _ in range(2)]
        claimed = await rs.store.ClaimStreamRequests(
            store_pb2.ClaimStreamRequestsRequest(worker="test", lease_seconds=300, max_requests=1)
        )
        assert [c.request_id for c in claimed.claims] == waiting[:1]
        # Even with a finish time in the far past, only the status decides.
        await sql(
            rs.pool,
            "UPDATE stream_requests SET finish_time = now() - interval '1 day' WHERE id = ANY(%s)",
            waiting,
        )
        await age_requests(rs.pool, [processed, *waiting], 3000 * DAY)
        statuses = await sql(
            rs.pool,
            "SELECT status FROM stream_requests WHERE id = ANY(%s) ORDER BY status",
            waiting,
        )
        assert [s[0] for s in statuses] == ["processing", "queued"]

        # The shortest retention there is (an hour) still keeps them.
        await Janitor(rs.pool, Retention(3600, 3600)).prune_once()

        assert await request_ids(rs.pool, [processed, *waiting]) == set(waiting)
    finally:
        await sql(rs.pool, "DELETE FROM stream_requests WHERE id = ANY(%s)", waiting)
        rs.workers.start()


async def test_a_batch_keeps_to_its_items_cap_yet_takes_at_least_one_request(
    rs: StreamServers, sales: SalesStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [await finished_request(rs, sales.key, SEED_BATCH) for _ in range(5)]
    await age_requests(rs.pool, ids, REQUESTS + 60)
    batches = record_batches(monkeypatch, "prune_stream_requests")

    # Two requests a batch, but no more than 4 items: 3 + 3 is over, so one at a time.
    janitor = Janitor(rs.pool, Retention(REQUESTS, 0), request_batch_size=2, request_batch_items=4)
    counts = await janitor.prune_once()

    assert counts == {**nothing(), "stream_requests": 5, "stream_request_items": 15}
    assert [b["requests"] for b in batches] == [1, 1, 1, 1, 1]
    assert await request_ids(rs.pool, ids) == set()


# -- logs -----------------------------------------------------------------------------------


async def test_log_entries_past_retention_go_and_newer_ones_stay(
    rs: StreamServers, seed: demo.DemoSeed, sales: SalesStream
) -> None:
    token = seed.tokens["contact"]
    endpoint = await endpoint_id(rs.pool, token)
    old_request = await finished_request(rs, sales.key, SEED_BATCH)
    await push(rs.ingest, token, {"fields": {"email": f"old-{secrets.token_hex(3)}@example.com"}})
    await sql(
        rs.pool,
        "UPDATE connector_log_entries SET create_time = now() - make_interval(secs => %s)"
        " WHERE request_id = %s",
        LOGS + 60,
        old_request,
    )
    await sql(
        rs.pool,
        "UPDATE activity_entries SET create_time = now() - make_interval(secs => %s)"
        " WHERE endpoint_id = %s",
        LOGS + 60,
        endpoint,
    )
    await age_requests(rs.pool, [old_request], LOGS + 60)
    new_request = await finished_request(rs, sales.key, SEED_BATCH)
    await push(rs.ingest, token, {"fields": {"email": f"new-{secrets.token_hex(3)}@example.com"}})
    assert len(await connector_log(rs, seed, sales)) == 2
    assert len(await activity(rs.admin, seed)) == 2

    # Requests kept forever (0), logs for 90 days.
    counts = await Janitor(rs.pool, Retention(0, LOGS)).prune_once()

    assert counts == {**nothing(), "connector_log_entries": 1, "activity_entries": 1}
    assert [e["request_id"] for e in await connector_log(rs, seed, sales)] == [new_request]
    assert len(await activity(rs.admin, seed)) == 1
    assert await request_ids(rs.pool, [old_request]) == {old_request}
    # Clean up the aged request for the tests that follow.
    await Janitor(rs.pool, Retention(REQUESTS, 0)).prune_once()


async def test_zero_keeps_everything_forever(
    rs: StreamServers, seed: demo.DemoSeed, sales: SalesStream
) -> None:
    request = await finished_request(rs, sales.key, SEED_BATCH)
    await push(
        rs.ingest,
        seed.tokens["contact"],
        {"fields": {"email": f"z-{secrets.token_hex(3)}@example.com"}},
    )
    endpoint = await endpoint_id(rs.pool, seed.tokens["contact"])
    await age_requests(rs.pool, [request], 3650 * DAY)
    await sql(
        rs.pool,
        "UPDATE connector_log_entries SET create_time = now() - interval '3650 days'"
        " WHERE request_id = %s",
        request,
    )
    await sql(
        rs.pool,
        "UPDATE activity_entries SET create_time = now() - interval '3650 days'"
        " WHERE endpoint_id = %s",
        endpoint,
    )

    forever = Janitor(rs.pool, Retention(0, 0), interval_seconds=0.01)
    assert await forever.prune_once() == nothing()
    passes = passes_metric("idle") + passes_metric("pruned")
    # Started (expired keys must go), and a background pass has run before it stops, but
    # it deleted no history.
    forever.start()

    async def passed() -> bool:
        return passes_metric("idle") + passes_metric("pruned") > passes

    await until(passed, what="a background pass")
    await forever.stop()
    assert await request_ids(rs.pool, [request]) == {request}
    assert await item_count(rs.pool, request) == 3
    assert len(await connector_log(rs, seed, sales)) == 1
    assert len(await activity(rs.admin, seed)) == 1

    # The same rows go as soon as retention is set.
    counts = await Janitor(rs.pool, Retention(REQUESTS, LOGS)).prune_once()
    assert counts == {
        **nothing(),
        "stream_requests": 1,
        "stream_request_items": 3,
        "connector_log_entries": 1,
        "activity_entries": 1,
    }


async def test_more_rows_than_a_batch_are_all_deleted(
    rs: StreamServers, seed: demo.DemoSeed, sales: SalesStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = await stream_id(rs.pool, sales)
    endpoint = await endpoint_id(rs.pool, seed.tokens["contact"])
    await sql(
        rs.pool,
        "INSERT INTO connector_log_entries"
        " (stream_id, key_id, request_id, outcome, status_code, create_time)"
        " SELECT %s, 'k', 'req_' || n, 'rejected', 400, now() - interval '100 days'"
        "   FROM generate_series(1, 23) n",
        stream,
    )
    await sql(
        rs.pool,
        "INSERT INTO activity_entries (endpoint_id, request_id, status_code, outcome, create_time)"
        " SELECT %s, 'req_' || n, 200, '{}'::jsonb, now() - interval '100 days'"
        "   FROM generate_series(1, 21) n",
        endpoint,
    )
    ids = [await finished_request(rs, sales.key, SEED_BATCH) for _ in range(5)]
    await age_requests(rs.pool, ids, REQUESTS + 60)
    log_batches = record_batches(monkeypatch, "prune_connector_log", "prune_activity_log")
    request_batches = record_batches(monkeypatch, "prune_stream_requests")

    janitor = Janitor(rs.pool, Retention(REQUESTS, LOGS), batch_size=7, request_batch_size=2)
    counts = await janitor.prune_once()

    assert counts == {
        **nothing(),
        "stream_requests": 5,
        "stream_request_items": 15,
        "connector_log_entries": 23,
        "activity_entries": 21,
    }
    assert [b["requests"] for b in request_batches] == [2, 2, 1]
    assert log_batches == [7, 7, 7, 2, 7, 7, 7, 0]
    assert await request_ids(rs.pool, ids) == set()
    # What is left of the stream's log: the five recent acceptances.
    left = await connector_log(rs, seed, sales)
    assert sorted(e["request_id"] for e in left) == sorted(ids)
    assert await activity(rs.admin, seed) == []


def record_batches(monkeypatch: pytest.MonkeyPatch, *names: str) -> list[Any]:
    """What each of the named retention statements returned, in order."""
    seen: list[Any] = []
    row, execute = repo.row, repo.execute

    async def recording_row(conn: repo.Conn, name: str, **params: Any) -> dict[str, Any] | None:
        found = await row(conn, name, **params)
        if name in names:
            seen.append(found)
        return found

    async def recording_execute(conn: repo.Conn, name: str, **params: Any) -> int:
        done = await execute(conn, name, **params)
        if name in names:
            seen.append(done)
        return done

    monkeypatch.setattr(repo, "row", recording_row)
    monkeypatch.setattr(repo, "execute", recording_execute)
    return seen


# -- one store at a time, in the background ------------------------------------------------


async def test_two_janitors_never_prune_at_once(rs: StreamServers, sales: SalesStream) -> None:
    stream = await stream_id(rs.pool, sales)
    await sql(
        rs.pool,
        "INSERT INTO connector_log_entries"
        " (stream_id, key_id, request_id, outcome, status_code, create_time)"
        " SELECT %s, 'k', 'req_' || n, 'rejected', 400, now() - interval '100 days'"
        "   FROM generate_series(1, 5) n",
        stream,
    )
    first = Janitor(rs.pool, Retention(0, LOGS))
    second = Janitor(rs.pool, Retention(0, LOGS))
    skipped = passes_metric("skipped")
    async with rs.pool.connection() as blocker, blocker.transaction():
        # Hold one of the doomed rows: the first janitor's delete waits on it mid-pass.
        await blocker.execute(
            "SELECT id FROM connector_log_entries WHERE stream_id = %s LIMIT 1 FOR UPDATE",
            (stream,),
        )
        pass_in_progress = asyncio.create_task(first.prune_once())

        async def first_is_waiting() -> bool:
            rows = await sql(
                rs.pool,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM connector_log%%'",
            )
            return bool(rows[0][0])

        await until(first_is_waiting)
        # Another store's pass now: it skips rather than prune alongside (a pass that did
        # not skip would wait on the held row: the deadline turns that into a failure).
        assert await asyncio.wait_for(second.prune_once(), 10) is None
        assert passes_metric("skipped") == skipped + 1
    counts = await pass_in_progress
    assert counts is not None
    assert counts["connector_log_entries"] == 5
    # The lock went with the pass: the next one runs (and finds nothing left).
    assert await second.prune_once() == nothing()


async def test_the_janitor_prunes_in_the_background_until_stopped(
    rs: StreamServers, sales: SalesStream
) -> None:
    janitor = Janitor(rs.pool, Retention(REQUESTS, LOGS), interval_seconds=0.05)
    janitor.start()
    try:
        # Whichever pass comes after the ageing takes it.
        request = await finished_request(rs, sales.key, SEED_BATCH)
        await age_requests(rs.pool, [request], REQUESTS + 60)

        async def gone() -> bool:
            return not await request_ids(rs.pool, [request])

        await until(gone)
    finally:
        await janitor.stop()
    assert janitor._task is not None
    assert janitor._task.done()


async def test_expired_idempotency_keys_and_old_windows_go_even_when_history_is_kept(
    rs: StreamServers, seed: demo.DemoSeed
) -> None:
    endpoint = await endpoint_id(rs.pool, seed.tokens["contact"])
    subject = f"endpoint:{endpoint}"
    for key, expires in (
        ("old", "now() - interval '2 hours'"),
        ("live", "now() + interval '1 hour'"),
    ):
        await sql(
            rs.pool,
            "INSERT INTO endpoint_idempotency_keys (endpoint_id, idempotency_key, body_hash,"
            " request_id, response, expire_time)"
            f" VALUES (%s, %s, '\\x00', 'req', '{{}}', {expires})",
            endpoint,
            key,
        )
    for start in ("now() - interval '2 days'", "now()"):
        await sql(
            rs.pool,
            f"INSERT INTO rate_windows (subject, window_start, hits) VALUES (%s, {start}, 1)",
            subject,
        )

    counts = await Janitor(rs.pool, Retention(0, 0)).prune_once()

    assert counts is not None
    assert counts["endpoint_idempotency_keys"] == 1
    assert counts["rate_windows"] >= 1
    kept = await sql(
        rs.pool,
        "SELECT idempotency_key FROM endpoint_idempotency_keys WHERE endpoint_id = %s",
        endpoint,
    )
    assert kept == [("live",)]
    windows = await sql(rs.pool, "SELECT count(*) FROM rate_windows WHERE subject = %s", subject)
    assert windows == [(1,)]


async def test_a_pruned_requests_log_line_stays_marked_pruned(
    rs: StreamServers, seed: demo.DemoSeed, sales: SalesStream
) -> None:
    pruned = await finished_request(rs, sales.key, SEED_BATCH)
    kept = await finished_request(rs, sales.key, SEED_BATCH)
    await age_requests(rs.pool, [pruned], REQUESTS + 60)
    await Janitor(rs.pool, Retention(REQUESTS, 0)).prune_once()

    log = await rs.streams.ListConnectorLogEntries(
        streams_pb2.ListConnectorLogEntriesRequest(parent=sales.name), metadata=seed.auth
    )
    status = {e.request_id: e.status for e in log.connector_log_entries}
    assert status == {pruned: "pruned", kept: "completed"}


async def test_old_marks_of_rotated_out_token_uses_go_with_the_log(
    rs: StreamServers, seed: demo.DemoSeed
) -> None:
    endpoint = await endpoint_id(rs.pool, seed.tokens["contact"])
    for request, age in (("req_old_grace", "100 days"), ("req_new_grace", "1 day")):
        await sql(
            rs.pool,
            "INSERT INTO endpoint_grace_uses (endpoint_id, request_id, create_time)"
            f" VALUES (%s, %s, now() - interval '{age}')",
            endpoint,
            request,
        )

    counts = await Janitor(rs.pool, Retention(0, LOGS)).prune_once()

    assert counts is not None
    assert counts["endpoint_grace_uses"] == 1
    left = await sql(
        rs.pool, "SELECT request_id FROM endpoint_grace_uses WHERE endpoint_id = %s", endpoint
    )
    assert left == [("req_new_grace",)]


async def test_completed_push_transfers_and_old_push_log_entries_go(
    rs: StreamServers, seed: demo.DemoSeed
) -> None:
    workspace_id = seed.workspace.split("/")[1]
    session_id, old, new, running = (secrets.token_hex(12) for _ in range(4))
    await sql(
        rs.pool,
        "INSERT INTO push_sessions (id, workspace_id) VALUES (%s, %s)",
        session_id,
        workspace_id,
    )
    for transfer_id, status, age in (
        (old, "completed", REQUESTS + 60),
        (new, "completed", 60),
        (running, "queued", REQUESTS + 60),
    ):
        await sql(
            rs.pool,
            "INSERT INTO push_transfers (id, workspace_id, session_id, api_key_id, request_id,"
            " endgrate_type, items_received, status, create_time, finish_time)"
            " VALUES (%s, %s, %s, 'k', %s, 'crm-contact', 1, %s,"
            "         now() - make_interval(secs => %s),"
            "         CASE WHEN %s = 'completed' THEN now() - make_interval(secs => %s) END)",
            transfer_id,
            workspace_id,
            session_id,
            f"req_{transfer_id}",
            status,
            age,
            status,
            age,
        )
        await sql(
            rs.pool,
            "INSERT INTO push_transfer_items (transfer_id, item_index, action)"
            " VALUES (%s, 0, 'created')",
            transfer_id,
        )
        await sql(
            rs.pool,
            "INSERT INTO push_log_entries (session_id, api_key_id, request_id, transfer_id,"
            " outcome, status_code, create_time)"
            " VALUES (%s, 'k', %s, %s, 'accepted', 200, now() - make_interval(secs => %s))",
            session_id,
            f"req_{transfer_id}",
            transfer_id,
            LOGS + 60 if transfer_id != new else 60,
        )
    counts = await Janitor(rs.pool, Retention(REQUESTS, LOGS)).prune_once()
    assert counts is not None
    assert counts["push_transfers"] == 1
    assert counts["push_log_entries"] == 2
    left = await sql(rs.pool, "SELECT id FROM push_transfers WHERE session_id = %s", session_id)
    assert {r[0] for r in left} == {new, running}
    items = await sql(
        rs.pool, "SELECT transfer_id FROM push_transfer_items WHERE transfer_id = %s", old
    )
    assert items == []
