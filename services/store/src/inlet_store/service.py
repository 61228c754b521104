"""The store's shared write path: match and write one planned entity (the inbox, the
external form and push transfer apply their items through it; endpoint push is in push/)."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common.errors import InvalidArgument, Violation
from inlet_store import repository as repo
from inlet_store.domain import Outcome, PlannedRecord
from inlet_store.errors import DanglingReference, KeyRace
from inlet_store.flags import current_unique_fields, with_unique_fields
from inlet_store.matching import decide, field_path, unique_keys


class InvalidIdempotencyKey(InvalidArgument):
    reason = "INVALID_IDEMPOTENCY_KEY"


class Store:
    """Use cases over one connection pool."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        race_attempts: int = 8,
        idempotency_ttl_seconds: int = 86400,
    ) -> None:
        self.pool = pool
        self.race_attempts = race_attempts
        self.idempotency_ttl_seconds = idempotency_ttl_seconds

    async def _upsert(
        self, conn: repo.Conn, workspace_id: str, planned: PlannedRecord, entity: str
    ) -> Outcome:
        unique = await current_unique_fields(conn, planned.entity_type_id)
        planned = with_unique_fields(planned, unique)
        await self._check_references(conn, planned, entity)
        keys = unique_keys(planned)
        hits: dict[str, str] = {}
        if keys:
            for hit in await repo.rows(
                conn,
                "find_keys",
                workspace_id=workspace_id,
                entity_type_id=planned.entity_type_id,
                slugs=list(keys),
                values=list(keys.values()),
            ):
                hits[hit["field_slug"]] = str(hit["record_id"])
        decision = decide(planned, keys, hits, entity)
        if decision.record_id is not None:
            record_id = decision.record_id
            if await repo.row(conn, "lock_record", id=record_id) is None:
                raise KeyRace("matched record was deleted concurrently")
            await repo.execute(conn, "update_record", id=record_id, data=repo.json(planned.values))
            if decision.moved:
                await repo.execute(
                    conn, "delete_keys", record_id=record_id, slugs=list(decision.moved)
                )
            if decision.new_keys:
                await self._insert_keys(conn, workspace_id, planned, record_id, decision.new_keys)
            return Outcome(id=record_id, action="updated", matched_on=decision.matched_on)
        created = await repo.row(
            conn,
            "insert_record",
            workspace_id=workspace_id,
            entity_type_id=planned.entity_type_id,
            data=repo.json({k: v for k, v in planned.values.items() if v is not None}),
        )
        assert created is not None
        record_id = str(created["id"])
        if decision.new_keys:
            await self._insert_keys(conn, workspace_id, planned, record_id, decision.new_keys)
        return Outcome(id=record_id, action="created")

    @staticmethod
    async def _insert_keys(
        conn: repo.Conn,
        workspace_id: str,
        planned: PlannedRecord,
        record_id: str,
        keys: dict[str, str],
    ) -> None:
        await repo.execute(
            conn,
            "insert_keys",
            workspace_id=workspace_id,
            entity_type_id=planned.entity_type_id,
            record_id=record_id,
            slugs=list(keys),
            values=list(keys.values()),
        )

    @staticmethod
    async def _check_references(conn: repo.Conn, planned: PlannedRecord, entity: str) -> None:
        wanted = {
            slug: (str(planned.values[slug]), type_id)
            for slug, type_id in planned.references.items()
            if planned.values.get(slug) is not None
        }
        if not wanted:
            return
        found = {
            str(r["id"]): str(r["entity_type_id"])
            for r in await repo.rows(
                conn, "existing_records", ids=[record_id for record_id, _ in wanted.values()]
            )
        }
        bad = [
            Violation(
                field_path(entity, slug),
                f"no record {rid} of the referenced type",
                "UNKNOWN_REFERENCE",
            )
            for slug, (rid, type_id) in wanted.items()
            if found.get(rid) != type_id
        ]
        if bad:
            raise DanglingReference("reference to a record that does not exist", violations=bad)
