"""Applying a claimed batch of whole requests set-based: one lease lock, one key lookup and
one write for the batch, however many requests it holds.

The requests are decided in order over one `ChunkPlan`, so a request sees the records and
keys of the requests before it exactly as it would if they were applied one after another.
A batch that cannot go this way (items with related records, several entity types) or that
loses a race with a concurrent writer is left to the caller, which applies its requests one
by one as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from psycopg import errors as pg

from inlet_common.errors import InletError
from inlet_common.sqlfiles import NamedQueries
from inlet_store import chunks, outbox
from inlet_store import repository as repo
from inlet_store.errors import KeyRace
from inlet_store.flags import with_unique_fields
from inlet_store.inbox.sources import INTEGRATION, STREAM
from inlet_store.streams import LeaseLost

_QUERIES = NamedQueries("inlet_store.inbox", "sql")
# Items decided between two looks at the event loop (a thousand take several milliseconds).
SLICE = 250


@dataclass(frozen=True)
class BatchRequest:
    """One request of the batch: its id, lease and planned items (see requests.StreamItem)."""

    request_id: str
    lease_token: str
    items: list[Any]


def eligible(workspace_ids: set[str], requests: list[BatchRequest]) -> str | None:
    """The one entity type id ("" for none) of a batch that can go set-based, else None."""
    if len(workspace_ids) != 1:
        return None
    type_ids: set[str] = set()
    for request in requests:
        for item in request.items:
            if item.related:
                return None
            if item.record is not None and item.superseded_by is None:
                type_ids.add(item.record.entity_type_id)
    if len(type_ids) > 1:
        return None
    return type_ids.pop() if type_ids else ""


async def apply_batch(
    conn: repo.Conn,
    workspace_id: str,
    entity_type_id: str,
    requests: list[BatchRequest],
    outcome_of: Callable[
        [Any, chunks.ChunkPlan, dict[str, str], InletError | None],
        tuple[Any, dict[str, Any] | None],
    ],
) -> list[tuple[str, InletError | None]]:
    """Apply every request of the batch in the caller's transaction: each one's final
    status, or LeaseLost for a request whose lease was taken over (its items are not
    written). `outcome_of(item, plan, source)` decides one item (Inbox's rules); KeyRace
    when a concurrent writer got in the way (the caller rolls back and goes one by one)."""
    held = {
        row["id"]: row
        for row in await _QUERIES.rows(
            conn,
            "hold_leases",
            ids=[r.request_id for r in requests],
            lease_tokens=[r.lease_token for r in requests],
            entity_type_id=entity_type_id or None,
        )
    }
    live = [r for r in requests if r.request_id in held]
    unique: tuple[str, ...] = ()
    if entity_type_id and live:
        # A separate statement after the lock: a fresh snapshot sees a flag change that
        # committed while we waited (see inlet_store.flags).
        unique = tuple(
            r["slug"]
            for r in await repo.rows(conn, "unique_fields_now", entity_type_id=entity_type_id)
        )
    planned = [[_keyed_on(i, unique) for i in r.items] for r in live]
    records = [
        chunks.ChunkItem(i.index, i.record)
        for items in planned
        for i in items
        if i.superseded_by is None and i.record is not None
    ]
    plan = chunks.ChunkPlan(
        await chunks.stored_keys(conn, workspace_id, entity_type_id, records) if live else {}
    )
    outcomes: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    failed: list[int] = []
    ok: list[int] = []
    for n, (request, items) in enumerate(zip(live, planned, strict=True), start=1):
        source = _source(request.request_id, held[request.request_id]["integration"])
        dangling = await chunks.dangling_references(
            conn,
            [
                chunks.ChunkItem(i.index, i.record)
                for i in items
                if i.superseded_by is None and i.record is not None
            ],
        )
        bad = good = 0
        for count, item in enumerate(items, start=1):
            if count % SLICE == 0:
                # Let the accepts waiting on this event loop go on meanwhile.
                await asyncio.sleep(0)
            outcome, event = outcome_of(item, plan, source, dangling.get(item.index))
            row = outcome.row()
            row["request_id"] = request.request_id
            outcomes.append(row)
            if outcome.action == "failed":
                bad += 1
            else:
                good += 1
            if event is not None:
                events.append({"n": n, **event})
        failed.append(bad)
        ok.append(good)
    results: dict[str, tuple[str, InletError | None]] = {
        r.request_id: ("", LeaseLost(f"the lease on {r.request_id} expired and was taken over"))
        for r in requests
        if r.request_id not in held
    }
    if live:
        try:
            await chunks.lock_and_unkey(conn, plan)
            finished = await _QUERIES.rows(
                conn,
                "write_batch",
                workspace_id=workspace_id,
                entity_type_id=entity_type_id or None,
                **chunks.written_by(plan),
                outcomes=repo.json(outcomes),
                request_ids=[r.request_id for r in live],
                failed=failed,
                ok=ok,
                events=repo.json(events),
                event_type=outbox.REQUEST_COMPLETED,
            )
        except pg.DeadlockDetected as error:
            # Two batches crossed on keys; one by one (with retries) settles it.
            raise KeyRace("deadlock with a concurrent writer") from error
        for row in finished:
            results[row["id"]] = (str(row["status"]), None)
    return [results[r.request_id] for r in requests]


def _keyed_on(item: Any, unique: tuple[str, ...]) -> Any:
    """The item, its record also keyed on the unique flags in force (a copy only when that
    adds a key: most items already have every one)."""
    if item.record is None:
        return item
    record = with_unique_fields(item.record, unique)
    return item if record is item.record else replace(item, record=record)


def _source(request_id: str, integration: str | None) -> dict[str, str]:
    if integration:
        return {"type": INTEGRATION, "id": integration, "request_id": request_id}
    return {"type": STREAM, "request_id": request_id}
