"""A push transfer's chunk applied in one transaction: each item atomically, identified, linked."""

from __future__ import annotations

import logging
from typing import Any

from inlet_common.errors import (
    FailedPrecondition,
    InletError,
    InvalidArgument,
    NotFound,
    Unavailable,
    Violation,
)
from inlet_store import outbox
from inlet_store import repository as repo
from inlet_store.domain import Outcome, PlannedRecord
from inlet_store.errors import KeyRace, UniqueConflictError, wrap_exceptions
from inlet_store.flags import current_unique_fields, with_unique_fields
from inlet_store.inbox import Inbox
from inlet_store.matching import unique_keys
from inlet_store.push_standard import match_keys, upsert_keys
from inlet_store.service import Store
from inlet_store.transfer_items import (
    INTERNAL,
    TRANSFER_DATA,
    ItemResult,
    PushEntity,
    PushItem,
    TransferContext,
    UnknownId,
    error_body,
)
from inlet_store.transfer_webhooks import transfer_events

log = logging.getLogger(__name__)

_RACE_ATTEMPTS = 8


class TransferApplier:
    """ApplyPushItems over one pool; the inbox's lease and finish are the stream ones."""

    def __init__(self, pool: Any, store: Store) -> None:
        self.pool = pool
        self.store = store

    async def apply(
        self,
        *,
        request_id: str,
        lease_token: str,
        lease_seconds: int,
        items: list[PushItem],
        finish: bool,
    ) -> tuple[int, int, str]:
        """(applied, failed, status): the chunk, its results, its webhook events and, with
        finish, the end of the request and of the transfer, in one transaction."""
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            await Inbox.hold_lease(conn, request_id, lease_token, lease_seconds, finish)
            context = await self.context(conn, request_id)
            await repo.execute(conn, "start_push_transfer", id=context.id)
            # Every identity the chunk may create, locked up front in one global order, so
            # two transfers pushing the same people wait for each other (one creates, the
            # other updates) and can never deadlock: the locks last until the commit.
            keys = {
                key
                for item in items
                for entity in ([item.entity, *item.associations] if item.entity else [])
                for key in self._lock_keys(context, entity)
            }
            for key in sorted(keys):
                await repo.execute(conn, "push_lock", key=key)
            results = [await self._item(conn, context, item) for item in items]
            if results:
                await repo.execute(
                    conn,
                    "insert_item_outcomes",
                    request_id=request_id,
                    outcomes=repo.json([r.inbox_row() for r in results]),
                )
                await repo.execute(
                    conn,
                    "insert_push_items",
                    transfer_id=context.id,
                    items=repo.json([r.row() for r in results]),
                )
            counts = await repo.row(conn, "transfer_counts", transfer_id=context.id)
            assert counts is not None
            await transfer_events(conn, context, results, counts, finish)
            status = ""
            if finish:
                await Inbox.finish_request(conn, request_id, lease_token)
                await repo.execute(conn, "finish_push_transfer", id=context.id)
                status = "completed"
        failed = sum(1 for r in results if r.action == "failed")
        return len(results) - failed, failed, status

    @staticmethod
    async def context(conn: repo.Conn, request_id: str) -> TransferContext:
        found = await repo.row(conn, "transfer_of_request", request_id=request_id)
        if found is None:
            raise FailedPrecondition(f"request {request_id} is not a push transfer's")
        types = await repo.rows(conn, "session_types", session_ids=[found["session_id"]])
        maps = {t["endgrate_type"]: dict(t["field_map"]) for t in types}
        standard = frozenset(
            t["endgrate_type"]
            for t in types
            if t["entity_type"] == t["endgrate_type"] and upsert_keys(t["endgrate_type"])
        )
        return TransferContext.of(found, maps, standard)

    # -- one item --------------------------------------------------------------------------

    async def _item(self, conn: repo.Conn, context: TransferContext, item: PushItem) -> ItemResult:
        if item.error is not None or item.entity is None:
            error = {"error_type": TRANSFER_DATA, **(item.error or {"code": "INVALID"})}
            return ItemResult(item.index, item.internal_id, "failed", error=error)
        for attempt in range(_RACE_ATTEMPTS):
            try:
                # Its own savepoint: a failing item (or association) rolls back alone.
                async with wrap_exceptions(), conn.transaction():
                    return await self._write_item(conn, context, item)
            except KeyRace as race:
                if attempt == _RACE_ATTEMPTS - 1:
                    return self._failed(item, race, INTERNAL)
            except Unavailable:
                raise  # the chunk is retried when the database is back
            except (InvalidArgument, FailedPrecondition, NotFound) as refused:
                return self._failed(item, refused, TRANSFER_DATA)
            except InletError as error:
                log.warning("push item failed", extra={"index": item.index}, exc_info=True)
                return self._failed(item, error, INTERNAL)
            except Exception:  # one bad item must not stop its transfer
                log.exception("push item crashed", extra={"index": item.index})
                return self._failed(item, InletError("internal error"), INTERNAL)
        raise AssertionError("unreachable")

    @staticmethod
    def _failed(item: PushItem, error: InletError, error_type: str) -> ItemResult:
        return ItemResult(
            item.index, item.internal_id, "failed", error=error_body(error, error_type)
        )

    async def _write_item(
        self, conn: repo.Conn, context: TransferContext, item: PushItem
    ) -> ItemResult:
        assert item.entity is not None
        entities = [item.entity, *item.associations]
        outcomes = [await self._write_entity(conn, context, e) for e in entities]
        main = outcomes[0]
        for outcome in outcomes[1:]:
            await repo.execute(
                conn, "insert_association", record_id=main.id, associated_record_id=outcome.id
            )
        stored = {
            str(r["id"]): dict(r["data"])
            for r in await repo.rows(conn, "records_data", ids=[o.id for o in outcomes])
        }
        associations: dict[str, list[dict[str, Any]]] = {}
        for entity, outcome in zip(item.associations, outcomes[1:], strict=True):
            shown: dict[str, Any] = {"id": outcome.id}
            if entity.internal_id:
                shown["internal_id"] = entity.internal_id
            shown["data"] = context.returned(entity.endgrate_type, stored[outcome.id])
            associations.setdefault(entity.endgrate_type, []).append(shown)
        return ItemResult(
            item.index,
            item.internal_id,
            main.action,
            record_id=main.id,
            matched_on=main.matched_on,
            data=context.returned(item.entity.endgrate_type, stored[main.id]),
            associations=associations,
        )

    @staticmethod
    def _lock_keys(context: TransferContext, entity: PushEntity) -> list[str]:
        keys = []
        if entity.internal_id and not context.disable_upsert:
            keys.append(
                f"push:iid:{context.session_id}:{entity.endgrate_type}:{context.sample}:"
                f"{entity.internal_id}"
            )
        if not context.disable_upsert and entity.endgrate_type in context.standard:
            for name, value in match_keys(entity.endgrate_type, entity.record.values).items():
                keys.append(f"push:key:{entity.record.entity_type_id}:{name}:{value}")
        return keys

    async def _write_entity(
        self, conn: repo.Conn, context: TransferContext, entity: PushEntity
    ) -> Outcome:
        """Update the record the entity names (id, internal_id, a default key) or create
        one; remember its internal_id and default keys."""
        planned = entity.record
        record_id, matched_on = await self._identify(conn, context, entity)
        if record_id is not None:
            outcome = await self._update(conn, context, planned, record_id, entity.path)
            outcome = Outcome(outcome.id, "updated", matched_on)
        elif context.sample:
            created = await repo.row(
                conn,
                "insert_push_record",
                workspace_id=context.workspace_id,
                entity_type_id=planned.entity_type_id,
                data=repo.json({k: v for k, v in planned.values.items() if v is not None}),
                sample=True,
            )
            assert created is not None
            outcome = Outcome(str(created["id"]), "created")
        else:
            # Nothing names a record: the type's unique fields still match (as every dialect).
            outcome = await self.store._upsert(
                conn, context.workspace_id, planned, f"{entity.path}.data"
            )
        if entity.internal_id:
            await repo.execute(
                conn,
                "remember_internal_id",
                session_id=context.session_id,
                endgrate_type=entity.endgrate_type,
                sample=context.sample,
                internal_id=entity.internal_id,
                record_id=outcome.id,
            )
        if entity.endgrate_type in context.standard:
            await self._refresh_keys(conn, entity, outcome.id)
        if not context.sample:
            await outbox.add_record_change(
                conn, context.workspace_id, planned, outcome, context.source
            )
        return outcome

    async def _identify(
        self, conn: repo.Conn, context: TransferContext, entity: PushEntity
    ) -> tuple[str | None, tuple[str, ...]]:
        type_id = entity.record.entity_type_id
        if entity.id:
            found = await repo.row(conn, "push_record", id=entity.id, entity_type_id=type_id)
            if found is None:
                raise UnknownId(
                    f"{entity.path}.id: no {entity.endgrate_type} record {entity.id!r}",
                    violations=[_violation(f"{entity.path}.id", entity)],
                )
            return str(found["id"]), ("id",)
        # disable_upsert: nothing but an explicit id updates; the item creates a record and
        # its internal_id then names the new one (the "the same data creates").
        if entity.internal_id and not context.disable_upsert:
            found = await repo.row(
                conn,
                "internal_id_record",
                session_id=context.session_id,
                endgrate_type=entity.endgrate_type,
                sample=context.sample,
                internal_id=entity.internal_id,
            )
            if found is not None:
                return str(found["record_id"]), ("internal_id",)
        if context.disable_upsert or entity.endgrate_type not in context.standard:
            return None, ()
        for name, value in match_keys(entity.endgrate_type, entity.record.values).items():
            for candidate in await repo.rows(
                conn,
                "match_key_records",
                entity_type_id=type_id,
                key_name=name,
                value=value,
                sample=context.sample,
            ):
                # A key row is written by transfers; another dialect may since have changed
                # the record, so the stored data must still give the key.
                if match_keys(entity.endgrate_type, candidate["data"]).get(name) == value:
                    return str(candidate["id"]), (name,)
        return None, ()

    async def _update(
        self,
        conn: repo.Conn,
        context: TransferContext,
        planned: PlannedRecord,
        record_id: str,
        path: str,
    ) -> Outcome:
        """Update a known record, keeping the type's unique keys (UNIQUE_CONFLICT when a
        new unique value belongs to another record)."""
        if await repo.row(conn, "lock_record", id=record_id) is None:
            raise KeyRace("matched record was deleted concurrently")
        keys: dict[str, str] = {}
        hits: dict[str, str] = {}
        if not context.sample:
            planned = with_unique_fields(
                planned, await current_unique_fields(conn, planned.entity_type_id)
            )
            await Store._check_references(conn, planned, f"{path}.data")
            keys = unique_keys(planned, f"{path}.data")
            if keys:
                for hit in await repo.rows(
                    conn,
                    "find_keys",
                    workspace_id=context.workspace_id,
                    entity_type_id=planned.entity_type_id,
                    slugs=list(keys),
                    values=list(keys.values()),
                ):
                    hits[hit["field_slug"]] = str(hit["record_id"])
            others = [(s, keys[s], [r]) for s, r in hits.items() if r != record_id]
            if others:
                raise UniqueConflictError(f"{path}.data", others)
        await repo.execute(conn, "update_push_record", id=record_id, data=repo.json(planned.values))
        cleared = [s for s, v in planned.values.items() if v is None]
        moved = [s for s in keys if s not in hits] + cleared
        if moved:
            await repo.execute(conn, "delete_keys", record_id=record_id, slugs=moved)
        new = {s: keys[s] for s in keys if s not in hits}
        if new:
            await repo.execute(
                conn,
                "insert_keys",
                workspace_id=context.workspace_id,
                entity_type_id=planned.entity_type_id,
                record_id=record_id,
                slugs=list(new),
                values=list(new.values()),
            )
        return Outcome(record_id, "updated")

    @staticmethod
    async def _refresh_keys(conn: repo.Conn, entity: PushEntity, record_id: str) -> None:
        found = await repo.row(
            conn, "push_record", id=record_id, entity_type_id=entity.record.entity_type_id
        )
        assert found is not None
        keys = match_keys(entity.endgrate_type, found["data"])
        await repo.execute(
            conn,
            "replace_match_keys",
            record_id=record_id,
            entity_type_id=entity.record.entity_type_id,
            names=list(keys),
            values=list(keys.values()),
        )


def _violation(path: str, entity: PushEntity) -> Violation:
    return Violation(path, f"no {entity.endgrate_type} record has id {entity.id!r}", "UNKNOWN_ID")
