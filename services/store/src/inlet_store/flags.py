"""Unique flags as they stand at commit time, not as the matcher saw them when planning."""

from __future__ import annotations

from dataclasses import replace

from inlet_store import repository as repo
from inlet_store.domain import PlannedRecord


async def current_unique_fields(conn: repo.Conn, entity_type_id: str) -> tuple[str, ...]:
    """The type's unique field slugs, with the type locked against flag changes until commit.

    A plan's `unique_fields` can be stale: turning `unique` on (or off) may commit between
    the matcher's ResolveEndpoint and this transaction. Writing keys from a stale list would
    leave record_keys and the data disagreeing, so every apply reads the flags here.
    """
    await repo.execute(conn, "share_entity_type", entity_type_id=entity_type_id)
    return tuple(
        r["slug"] for r in await repo.rows(conn, "unique_fields_now", entity_type_id=entity_type_id)
    )


def with_unique_fields(planned: PlannedRecord, unique: tuple[str, ...]) -> PlannedRecord:
    """`planned` keyed on `unique` (those of its values that are present and not null)."""
    keyed = tuple(s for s in unique if planned.values.get(s) is not None)
    return planned if keyed == planned.unique_fields else replace(planned, unique_fields=keyed)
