"""Applying a chunk of stream items with set-based SQL: one key lookup, then a few bulk writes.

`ChunkPlan` makes the decisions `Store._upsert` makes item by item (conflict, update,
create, keys moved or cleared), in item order, over an in-memory copy of the record_keys
rows the chunk can touch, so items of one chunk that share a unique value see each other's
effect exactly as they would one after another. `write_chunk` then writes what the chunk
decided. A lost race (a key taken or a matched record deleted by a concurrent writer)
raises KeyRace; the caller redoes the chunk item by item, as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import errors as pg

from inlet_common.errors import Violation
from inlet_common.normalise import key_text
from inlet_store import outbox
from inlet_store import repository as repo
from inlet_store.domain import Outcome, PlannedRecord
from inlet_store.errors import DanglingReference, KeyRace
from inlet_store.matching import decide, unique_keys

Key = tuple[str, str]  # (field slug, normalised value)


class RandomIds:
    """Random (version 4) UUIDs as str(uuid.uuid4()) writes them, for one plan's new
    records: made from random bytes drawn 64 ids at a time, as a chunk makes hundreds and
    each draw is a system call (the UUID object also costs more than the randomness)."""

    _BATCH = 64

    def __init__(self) -> None:
        self._hex = ""
        self._at = 0

    def __call__(self) -> str:
        if self._at >= len(self._hex):
            self._hex = os.urandom(16 * self._BATCH).hex()
            self._at = 0
        x = self._hex[self._at : self._at + 32]
        self._at += 32
        return f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:]}"


# The variant digit of a version 4 UUID (10xx in binary) for each random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


@dataclass
class _Write:
    """What the chunk does to one record: create it with `data`, or merge `data` into it."""

    created: bool
    data: dict[str, Any]


@dataclass
class ChunkPlan:
    """The chunk's decisions over `keys`, the stored (slug, value) → record id rows of every
    key any item looks up (missing pairs are free)."""

    keys: dict[Key, str]
    new_id: Callable[[], str] = field(default_factory=RandomIds)
    writes: dict[str, _Write] = field(default_factory=dict)  # record id → write, in order
    added: dict[Key, str] = field(default_factory=dict)  # keys to insert → record id
    deleted: set[tuple[str, str]] = field(default_factory=set)  # (record id, slug) to delete
    _by_record: dict[str, set[Key]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, record_id in self.keys.items():
            self._by_record.setdefault(record_id, set()).add(key)

    def upsert(self, planned: PlannedRecord, entity: str) -> Outcome:
        """Store._upsert's decision for one item; raises its domain errors, writes nothing."""
        keys = unique_keys(planned, entity)
        stored = self.keys
        hits = {s: stored[(s, v)] for s, v in keys.items() if (s, v) in stored}
        if not hits and not planned.missing_required:
            # decide()'s create, without its Decision: most items of an import are new.
            return self._create(planned, keys)
        decision = decide(planned, keys, hits, entity)
        if decision.record_id is not None:
            record_id = decision.record_id
            self.writes.setdefault(record_id, _Write(False, {})).data.update(planned.values)
            if decision.moved:
                self._delete_keys(record_id, set(decision.moved))
            for slug, value in decision.new_keys.items():
                self._add_key((slug, value), record_id)
            return Outcome(id=record_id, action="updated", matched_on=decision.matched_on)
        return self._create(planned, decision.new_keys)

    def _create(self, planned: PlannedRecord, keys: dict[str, str]) -> Outcome:
        record_id = self.new_id()
        data = {k: v for k, v in planned.values.items() if v is not None}
        self.writes[record_id] = _Write(True, data)
        for slug, value in keys.items():
            self._add_key((slug, value), record_id)
        return Outcome(record_id, "created")

    def _add_key(self, key: Key, record_id: str) -> None:
        self.keys[key] = record_id
        self.added[key] = record_id
        self._by_record.setdefault(record_id, set()).add(key)

    def _delete_keys(self, record_id: str, slugs: set[str]) -> None:
        # Stored rows of these fields are deleted in the database (also the ones no item
        # looked up); rows this chunk added are simply not inserted.
        self.deleted.update((record_id, slug) for slug in slugs)
        mine = self._by_record.get(record_id, set())
        for key in [k for k in mine if k[0] in slugs]:
            mine.discard(key)
            del self.keys[key]
            self.added.pop(key, None)


def written_by(plan: ChunkPlan) -> dict[str, Any]:
    """The records `plan` creates and updates and the keys it adds, as the write
    statements take them (write_chunk, and write_batch for claimed requests)."""
    return {
        "created": repo.json(
            [{"id": r, "data": w.data} for r, w in plan.writes.items() if w.created]
        ),
        "updated": repo.json(
            [{"id": r, "data": w.data} for r, w in plan.writes.items() if not w.created]
        ),
        # Sorted, so concurrent writers insert overlapping keys in the same order.
        "keys": repo.jsonb(
            [{"slug": s, "value": v, "record_id": r} for (s, v), r in sorted(plan.added.items())]
        ),
    }


@dataclass(frozen=True)
class ChunkItem:
    index: int
    record: PlannedRecord


async def dangling_references(
    conn: repo.Conn, items: Sequence[ChunkItem]
) -> dict[int, DanglingReference]:
    """Items that reference a record that is missing or of another type (one query)."""
    wanted = {
        item.index: {
            slug: (str(item.record.values[slug]), type_id)
            for slug, type_id in item.record.references.items()
            if item.record.values.get(slug) is not None
        }
        for item in items
        if item.record.references  # most items reference nothing
    }
    ids = sorted({rid for refs in wanted.values() for rid, _ in refs.values()})
    if not ids:
        return {}
    found = {
        str(r["id"]): str(r["entity_type_id"])
        for r in await repo.rows(conn, "existing_records", ids=ids)
    }
    errors: dict[int, DanglingReference] = {}
    for index, refs in wanted.items():
        bad = [
            Violation(
                f"items[{index}].{slug}",
                f"no record {rid} of the referenced type",
                "UNKNOWN_REFERENCE",
            )
            for slug, (rid, type_id) in refs.items()
            if found.get(rid) != type_id
        ]
        if bad:
            errors[index] = DanglingReference(
                "reference to a record that does not exist", violations=bad
            )
    return errors


async def stored_keys(
    conn: repo.Conn, workspace_id: str, entity_type_id: str, items: Sequence[ChunkItem]
) -> dict[Key, str]:
    """The record_keys rows of every unique value in the chunk, in one query."""
    wanted = sorted(
        {
            (slug, key_text(item.record.values[slug]))
            for item in items
            for slug in item.record.unique_fields
        }
    )
    if not wanted:
        return {}
    found = await repo.rows(
        conn,
        "find_keys",
        workspace_id=workspace_id,
        entity_type_id=entity_type_id,
        slugs=[s for s, _ in wanted],
        values=[v for _, v in wanted],
    )
    return {(r["field_slug"], r["value"]): str(r["record_id"]) for r in found}


async def lock_and_unkey(conn: repo.Conn, plan: ChunkPlan) -> None:
    """Lock the records `plan` updates (KeyRace when one was deleted meanwhile) and delete
    the keys its items moved or cleared, before the write."""
    existing = sorted(rid for rid, w in plan.writes.items() if not w.created)
    if existing:
        locked = await repo.rows(conn, "lock_records", ids=existing)
        if len(locked) != len(existing):
            raise KeyRace("a matched record was deleted concurrently")
    if plan.deleted:
        pairs = [{"record_id": r, "slug": s} for r, s in sorted(plan.deleted)]
        await repo.execute(conn, "delete_record_keys", pairs=repo.jsonb(pairs))


async def write_chunk(
    conn: repo.Conn,
    plan: ChunkPlan,
    *,
    workspace_id: str,
    entity_type_id: str,
    request_id: str,
    events: list[dict[str, Any]],
    outcomes: list[dict[str, Any]],
) -> None:
    """Write what `plan` decided, with the events and outcome rows, in the caller's
    transaction; a lost race raises KeyRace (and leaves the transaction to be rolled back)."""
    try:
        await lock_and_unkey(conn, plan)
        await repo.execute(
            conn,
            "write_chunk",
            workspace_id=workspace_id,
            entity_type_id=entity_type_id or None,  # none when no item has a record
            request_id=request_id,
            **written_by(plan),
            events=repo.json(events),
            outcomes=repo.json(outcomes),
        )
    except pg.DeadlockDetected as error:
        # Two chunks crossed on keys; item by item (with retries) settles it.
        raise KeyRace("deadlock with a concurrent writer") from error


def record_event(
    planned: PlannedRecord, outcome: Outcome, source: dict[str, str]
) -> dict[str, Any]:
    """The outbox row (type and data) outbox.add_record_change would write."""
    type_, data = outbox.record_change(planned, outcome, source)
    return {"type": type_, "data": data}
