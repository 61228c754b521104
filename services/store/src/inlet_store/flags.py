"""Unique flags as they stand at commit time, not as the matcher saw them when planning."""

from __future__ import annotations

from dataclasses import replace

from inlet_store import repository as repo
from inlet_store.domain import PlannedRecord


async def current_unique_fields(conn: repo.Conn, entity_type_id: str) -> tuple[str, ...]:
    """The type's unique field slugs, with the type locked against flag changes until commit.

    A plan's `unique_fields` can be stale: turning `unique` on (or off) may commit between
    the matcher resolving its schema and this transaction. Writing keys from a stale list would
    leave record_keys and the data disagreeing, so every apply reads the flags here.
    """
    await repo.execute(conn, "share_entity_type", entity_type_id=entity_type_id)
    return tuple(
        r["slug"] for r in await repo.rows(conn, "unique_fields_now", entity_type_id=entity_type_id)
    )


def with_unique_fields(planned: PlannedRecord, unique: tuple[str, ...]) -> PlannedRecord:
    """`planned`, also keyed on every field of `unique` it has a value for.

    The plan's own keys stay: besides the flags the matcher saw, they hold request-level
    match keys (a stream's X-Item-Key names any field). A flag turned off after planning
    can thus still be keyed once, which leaves a redundant key row but never a missing one.
    """
    added = tuple(
        s for s in unique if s not in planned.unique_fields and planned.values.get(s) is not None
    )
    if not added:
        return planned
    return replace(planned, unique_fields=(*planned.unique_fields, *added))
