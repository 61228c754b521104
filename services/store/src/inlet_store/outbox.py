"""The transactional outbox: an event row written on the caller's connection and transaction."""

from __future__ import annotations

from typing import Any

from inlet_store import repository as repo
from inlet_store.domain import Outcome, PlannedRecord

RECORD_CREATED = "record.created"
RECORD_UPDATED = "record.updated"
INGEST_FAILED = "ingest.failed"
REQUEST_COMPLETED = "request.completed"


async def add(conn: repo.Conn, workspace_id: str, type_: str, data: dict[str, Any]) -> None:
    """Queue an event; the notifier sees it only if the surrounding transaction commits."""
    await repo.execute(
        conn, "insert_outbox_event", workspace_id=workspace_id, type=type_, data=repo.json(data)
    )


async def add_targeted(
    conn: repo.Conn, workspace_id: str, type_: str, data: dict[str, Any], target: dict[str, Any]
) -> None:
    """Queue an event for one URL (see Target in notifier.proto), with the change."""
    await repo.execute(
        conn,
        "insert_targeted_outbox_event",
        workspace_id=workspace_id,
        type=type_,
        data=repo.json(data),
        target=repo.json(target),
    )


async def add_record_change(
    conn: repo.Conn,
    workspace_id: str,
    planned: PlannedRecord,
    outcome: Outcome,
    source: dict[str, Any],
) -> None:
    """`record.created` or `record.updated` for one written record."""
    await add(conn, workspace_id, *record_change(planned, outcome, source))


def record_change(
    planned: PlannedRecord, outcome: Outcome, source: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The type and data of a written record's event (also written in bulk by chunks)."""
    type_ = RECORD_CREATED if outcome.action == "created" else RECORD_UPDATED
    data = {
        # Every event names the request that caused it, as its client was shown it.
        "request_id": source.get("request_id", ""),
        "id": outcome.id,
        "entity_type_id": planned.entity_type_id,
        "fields": {k: v for k, v in planned.values.items() if v is not None},
        "matched_on": list(outcome.matched_on),
        "source": source,
    }
    return type_, data
