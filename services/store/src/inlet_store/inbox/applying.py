"""Applying a leased inbox request's items exactly once: a chunk, or a batch of requests."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common import requestids
from inlet_common.errors import InletError, Unavailable
from inlet_store import chunks, outbox
from inlet_store import repository as repo
from inlet_store.domain import Outcome, PlannedRecord
from inlet_store.errors import KeyRace, UniqueConflictError, wrap_exceptions
from inlet_store.flags import current_unique_fields, with_unique_fields
from inlet_store.inbox import batch
from inlet_store.inbox.sources import INTEGRATION, STREAM
from inlet_store.inbox.types import ItemOutcome, RequestChunk, StreamItem
from inlet_store.service import Store
from inlet_store.streams import LeaseLost

log = logging.getLogger(__name__)

_ITEM_RACE_ATTEMPTS = 8


class Applying:
    """Inbox's worker side: chunks set-based (chunks.py), item by item with Store._upsert
    when a concurrent writer won a key."""

    pool: AsyncConnectionPool[Any]
    store: Store

    async def apply(
        self,
        *,
        request_id: str,
        lease_token: str,
        lease_seconds: int,
        workspace_id: str,
        items: list[StreamItem],
        finish: bool = False,
    ) -> tuple[list[ItemOutcome], str]:
        """Apply a chunk: outcomes commit with the upserts (and, for the last chunk, with the
        request's final status) in one transaction."""
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await self._apply_on(
                conn,
                RequestChunk(request_id, lease_token, lease_seconds, workspace_id, items),
                finish,
            )

    async def apply_many(self, chunks: list[RequestChunk]) -> list[tuple[str, InletError | None]]:
        """Whole requests in one transaction (one commit): set-based for the batch when it
        can (inlet_store.inbox.batch), else each in a savepoint of its own. Each one's final
        status, or the error that left it unwritten."""
        together = await self._apply_batch(chunks)
        if together is not None:
            for chunk, (status, error) in zip(chunks, together, strict=True):
                with requestids.bound(chunk.request_id):
                    if error is None:
                        log.info("stream request applied", extra={"status": status})
                    else:
                        log.warning("stream request not applied: %s", error.message)
            return together
        results: list[tuple[str, InletError | None]] = []
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            for chunk in chunks:
                # Each request's lines under its own id, as if it came alone.
                with requestids.bound(chunk.request_id):
                    try:
                        async with conn.transaction():
                            _, status = await self._apply_on(conn, chunk, True)
                        results.append((status, None))
                        log.info("stream request applied", extra={"status": status})
                    except InletError as error:
                        results.append(("", error))
                        log.warning("stream request not applied: %s", error.message)
        return results

    async def _apply_batch(
        self, chunks: list[RequestChunk]
    ) -> list[tuple[str, InletError | None]] | None:
        """The batch set-based in one transaction; None when it cannot go that way or lost a
        race (nothing is then written, and the caller applies its requests one by one)."""
        requests = [batch.BatchRequest(c.request_id, c.lease_token, c.items) for c in chunks]
        type_id = batch.eligible({c.workspace_id for c in chunks}, requests)
        if type_id is None:
            return None
        try:
            async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
                return await batch.apply_batch(
                    conn, chunks[0].workspace_id, type_id, requests, decide_item
                )
        except Unavailable:
            raise
        except InletError as error:
            # A lost key race, or a request the batch cannot write: one by one, each
            # request keeps its own outcome.
            log.info("batch not applied together (%s); one request at a time", error.reason)
            return None

    async def _apply_on(
        self, conn: repo.Conn, chunk: RequestChunk, finish: bool
    ) -> tuple[list[ItemOutcome], str]:
        request_id, lease_token = chunk.request_id, chunk.lease_token
        lease_seconds, workspace_id, items = chunk.lease_seconds, chunk.workspace_id, chunk.items
        # Items with related records take the item-by-item path: each writes its related
        # records first and points its reference fields at them.
        if not any(i.related for i in items):
            try:
                # Fast path: the whole chunk set-based (inlet_store.chunks). The store's
                # domain errors are decided before anything is written, so a bad item
                # needs no rollback; only a lost key race does, and it rolls back the chunk.
                async with wrap_exceptions(), conn.transaction():
                    source = await self.hold_lease(
                        conn, request_id, lease_token, lease_seconds, finish
                    )
                    outcomes = await self._apply_chunk(
                        conn, workspace_id, source, request_id, items
                    )
                    status = (
                        await self.finish_request(conn, request_id, lease_token) if finish else ""
                    )
                return outcomes, status
            except KeyRace:
                log.info(
                    "chunk lost a key race; applying it item by item",
                    extra={"request": request_id},
                )
        async with wrap_exceptions(), conn.transaction():
            source = await self.hold_lease(conn, request_id, lease_token, lease_seconds, finish)
            outcomes = [await self._apply_item(conn, workspace_id, source, i) for i in items]
            if outcomes:
                await repo.execute(
                    conn,
                    "insert_item_outcomes",
                    request_id=request_id,
                    outcomes=repo.json([o.row() for o in outcomes]),
                )
            status = await self.finish_request(conn, request_id, lease_token) if finish else ""
        return outcomes, status

    @staticmethod
    async def hold_lease(
        conn: repo.Conn, request_id: str, lease_token: str, lease_seconds: int, finish: bool
    ) -> dict[str, str]:
        """Lock the request while the lease is ours; the `source` of its record.* events."""
        # The last chunk only locks the row: an UPDATE would leave one more dead version of
        # a row that is about to be updated by finish_stream_request anyway.
        if finish:
            held = await repo.row(conn, "hold_lease", id=request_id, lease_token=lease_token)
        else:
            held = await repo.row(
                conn,
                "hold_and_extend_lease",
                id=request_id,
                lease_token=lease_token,
                lease_seconds=lease_seconds,
            )
        if held is None:
            raise LeaseLost(f"the lease on {request_id} expired and was taken over")
        if held["integration"]:
            return {"type": INTEGRATION, "id": held["integration"], "request_id": request_id}
        return {"type": STREAM, "request_id": request_id}

    async def _apply_chunk(
        self,
        conn: repo.Conn,
        workspace_id: str,
        source: dict[str, str],
        request_id: str,
        items: list[StreamItem],
    ) -> list[ItemOutcome]:
        """Every item decided in order over one key lookup, then written in bulk; KeyRace
        when a concurrent writer got in the way."""
        records = [
            chunks.ChunkItem(i.index, i.record)
            for i in items
            if i.superseded_by is None and i.record is not None
        ]
        type_ids = {c.record.entity_type_id for c in records}
        if len(type_ids) > 1:
            # A stream has one entity type; anything else takes the item-by-item path.
            raise KeyRace("items of several entity types")
        type_id = type_ids.pop() if type_ids else ""
        if type_id:
            # Key on the flags in force now, not on the plan's (see inlet_store.flags).
            unique = await current_unique_fields(conn, type_id)
            items = [
                replace(i, record=with_unique_fields(i.record, unique)) if i.record else i
                for i in items
            ]
            records = [
                chunks.ChunkItem(i.index, i.record)
                for i in items
                if i.superseded_by is None and i.record is not None
            ]
        dangling = await chunks.dangling_references(conn, records)
        plan = chunks.ChunkPlan(await chunks.stored_keys(conn, workspace_id, type_id, records))
        outcomes: list[ItemOutcome] = []
        events: list[dict[str, Any]] = []
        for item in items:
            outcome, event = decide_item(item, plan, source, dangling.get(item.index))
            outcomes.append(outcome)
            if event is not None:
                events.append(event)
        if outcomes:
            await chunks.write_chunk(
                conn,
                plan,
                workspace_id=workspace_id,
                entity_type_id=type_id,
                request_id=request_id,
                events=events,
                outcomes=[o.row() for o in outcomes],
            )
        return outcomes

    async def _apply_item(
        self, conn: repo.Conn, workspace_id: str, source: dict[str, str], item: StreamItem
    ) -> ItemOutcome:
        """One item (its related records first) in its own savepoint, retried when it loses
        a key race."""
        if item.superseded_by is not None or item.record is None:
            return _not_applied(item)
        entity = f"items[{item.index}]"
        for attempt in range(_ITEM_RACE_ATTEMPTS):
            try:
                # Translated inside the loop: a lost key race rolls back only this item.
                async with wrap_exceptions(), conn.transaction():
                    related: dict[str, Outcome] = {}
                    for slug, planned in item.related.items():
                        related[slug] = await self.store._upsert(
                            conn, workspace_id, planned, f"{entity}.related.{slug}"
                        )
                        await outbox.add_record_change(
                            conn, workspace_id, planned, related[slug], source
                        )
                    record = _pointing_at(item.record, related)
                    outcome = await self.store._upsert(conn, workspace_id, record, entity)
                    await outbox.add_record_change(conn, workspace_id, record, outcome, source)
                return ItemOutcome(
                    item.index,
                    outcome.action,
                    outcome.id,
                    matched_on=outcome.matched_on,
                    related=related,
                )
            except KeyRace:
                if attempt == _ITEM_RACE_ATTEMPTS - 1:
                    raise
            except InletError as error:
                return ItemOutcome(item.index, "failed", error=describe(error))
        raise AssertionError("unreachable")

    async def finish(self, *, request_id: str, lease_token: str) -> str:
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            return await self.finish_request(conn, request_id, lease_token)

    @staticmethod
    async def finish_request(conn: repo.Conn, request_id: str, lease_token: str) -> str:
        """Completed (or failed when no item succeeded), with `request.completed` queued."""
        done = await repo.row(
            conn,
            "finish_stream_request",
            id=request_id,
            lease_token=lease_token,
            event_type=outbox.REQUEST_COMPLETED,
        )
        if done is None:
            raise LeaseLost(f"the lease on {request_id} expired and was taken over")
        return str(done["status"])


def decide_item(
    item: StreamItem,
    plan: chunks.ChunkPlan,
    source: dict[str, str],
    dangling: InletError | None = None,
) -> tuple[ItemOutcome, dict[str, Any] | None]:
    """One item decided over `plan` (written later, in bulk): its outcome, and its
    record.* event when it wrote a record; KeyRace is left to the caller."""
    if item.superseded_by is not None or item.record is None:
        return _not_applied(item), None
    try:
        if dangling is not None:
            raise dangling
        outcome = plan.upsert(item.record, f"items[{item.index}]")
    except KeyRace:
        raise
    except InletError as error:
        return ItemOutcome(item.index, "failed", error=describe(error)), None
    return (
        ItemOutcome(item.index, outcome.action, outcome.id, matched_on=outcome.matched_on),
        chunks.record_event(item.record, outcome, source),
    )


def _pointing_at(record: PlannedRecord, related: dict[str, Outcome]) -> PlannedRecord:
    """The record with each reference field set to the related record written for it."""
    if not related:
        return record
    values = {**record.values, **{slug: o.id for slug, o in related.items()}}
    return replace(
        record,
        values=values,
        missing_required=tuple(s for s in record.missing_required if s not in values),
    )


def _not_applied(item: StreamItem) -> ItemOutcome:
    """The outcome of an item the matcher already settled: superseded, or invalid."""
    if item.superseded_by is not None:
        return ItemOutcome(item.index, "superseded", superseded_by=item.superseded_by)
    return ItemOutcome(item.index, "failed", error=item.error or {"code": "INVALID"})


def describe(error: InletError) -> dict[str, Any]:
    """An item's error as its outcome keeps it: code, message, bad fields."""
    body: dict[str, Any] = {"code": error.reason, "message": error.message}
    if error.violations:
        body["fields"] = [v.as_json() for v in error.violations]
    if isinstance(error, UniqueConflictError):
        body["code"] = "UNIQUE_CONFLICT"
    return body
