"""The admin API's use cases of records: get, list, look up, and the requests that wrote one."""

from __future__ import annotations

from typing import Any

from inlet.type.v1 import entity_pb2
from inlet_common import exactjson, normalise
from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import Violation
from inlet_common.normalise import key_text
from inlet_store import repository as repo
from inlet_store.admin.entity_types import EntityTypeAdmin, field_of
from inlet_store.domain import (
    EntityTypeDef,
    FieldDef,
    RecordRequest,
    StoredRecord,
)
from inlet_store.errors import (
    InvalidArgument,
    NotFound,
    wrap_exceptions,
)


class RecordAdmin(EntityTypeAdmin):
    """Records."""

    async def get_record_in(
        self, workspace_key: str, type_key: str, record_id: str
    ) -> StoredRecord:
        entity_type = await self.get_entity_type(workspace_key, type_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.row(
                conn, "record_in_type", entity_type_id=entity_type.id, id=record_id
            )
        if found is None:
            raise NotFound(f"no {entity_type.slug} record {record_id!r}", reason="RECORD_NOT_FOUND")
        return _record(entity_type, found)

    async def list_records(
        self, workspace_key: str, type_key: str, page_size: int, page_token: str
    ) -> tuple[list[StoredRecord], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("records", workspace_key, type_key)
        cursor = tokens.decode(page_token, 2)
        entity_type = await self.get_entity_type(workspace_key, type_key)
        return await self._newest_first(
            "list_records",
            tokens,
            limit,
            cursor,
            lambda row: _record(entity_type, row),
            entity_type_id=entity_type.id,
        )

    async def lookup_record(
        self, workspace_key: str, type_key: str, slug: str, value: str, region: str
    ) -> StoredRecord:
        entity_type = await self.get_entity_type(workspace_key, type_key)
        field = field_of(entity_type, slug)
        if not field.unique:
            raise InvalidArgument(
                f"{entity_type.slug}.{slug} is not unique; look up by a unique field",
                violations=[Violation("field", "not a unique field", "NOT_UNIQUE")],
            )
        national = any(c.isdigit() for c in value) and not value.strip().startswith("+")
        try:
            normalised = normalise.normalise(_field_pb(field), _typed(field, value), region)
        except normalise.FieldProblem as problem:
            if field.type == "phone" and not region and national:
                # What is missing is the region, not a better number: say that, once.
                raise InvalidArgument(
                    f"{value!r} has no country code, and no default_region to read it with"
                    f"{_REGION_HINT}",
                    reason="REGION_REQUIRED",
                    violations=[
                        Violation(
                            "default_region", "needed for a number without +", "REGION_REQUIRED"
                        )
                    ],
                ) from None
            raise InvalidArgument(
                f"value: {problem.message}",
                violations=[Violation("value", problem.message, problem.reason)],
            ) from None
        if normalised is None:
            raise InvalidArgument(
                "value is blank", violations=[Violation("value", "blank", "INVALID_VALUE")]
            )
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.row(
                conn,
                "record_by_key",
                workspace_id=entity_type.workspace_id,
                entity_type_id=entity_type.id,
                slug=slug,
                value=key_text(normalised),
            )
        if found is None:
            # A national number read without a region may be stored under its E.164 form.
            hint = _REGION_HINT if field.type == "phone" and not region and national else ""
            raise NotFound(
                f"no {entity_type.slug} record has {slug} = {key_text(normalised)!r}{hint}",
                reason="RECORD_NOT_FOUND",
            )
        return _record(entity_type, found)

    async def list_record_requests(
        self, workspace_key: str, type_key: str, record_id: str, page_size: int, page_token: str
    ) -> tuple[list[RecordRequest], str]:
        """The requests that created or updated the record, newest first."""
        limit = paging.page_size(page_size)
        tokens = PageTokens("recordRequests", workspace_key, type_key, record_id)
        cursor = tokens.decode(page_token, 3)
        before: dict[str, Any] = {
            "before_time": paging.as_time(cursor[0]) if cursor else None,
            "before_request": paging.as_text(cursor[1]) if cursor else None,
            "before_position": paging.as_int(cursor[2]) if cursor else None,
        }
        record = await self.get_record_in(workspace_key, type_key, record_id)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.rows(
                conn,
                "record_requests",
                workspace_id=record.workspace_id,
                record_id=record.id,
                limit=limit + 1,
                **before,
            )
        rows, next_token = tokens.page(
            found, limit, lambda r: (r["create_time"], r["request_id"], r["position"])
        )
        return [_record_request(row, record) for row in rows], next_token


def _record_request(found: dict[str, Any], record: StoredRecord) -> RecordRequest:
    workspace = f"workspaces/{record.workspace_id}"
    if found["dialect"] == "stream_ingest":
        entity, action = f"items[{found['position']}]", found["action"]
        source = f"{workspace}/streams/{found['source_id']}"
    else:
        entity, action = _touched(found["outcome"], record.id)
        source = f"{workspace}/ingestEndpoints/{found['source_id']}"
    return RecordRequest(
        request_id=found["request_id"],
        dialect=found["dialect"],
        source=source,
        action=action,
        entity=entity,
        create_time=found["create_time"],
    )


def _touched(outcome: dict[str, Any], record_id: str) -> tuple[str, str]:
    """Where the record sits in an endpoint push's outcome, and what happened to it."""
    primary = outcome.get("record") or {}
    if primary.get("id") == record_id:
        return "record", str(primary.get("action", ""))
    for slug, related in (outcome.get("related") or {}).items():
        if related.get("id") == record_id:
            return f"related.{slug}", str(related.get("action", ""))
    return "record", ""


_REGION_HINT = ": give a region (e.g. NO) or write the number as +<country code>…"


def _field_pb(f: FieldDef) -> entity_pb2.Field:
    return entity_pb2.Field(
        slug=f.slug, type=entity_pb2.FieldType.Value(f"FIELD_TYPE_{f.type.upper()}")
    )


def _typed(f: FieldDef, value: str) -> Any:
    """A looked-up value arrives as text; numbers are parsed the way JSON would give them."""
    if f.type in ("number", "integer"):
        return exactjson.number_or_text(value)
    return value


def _record(entity_type: EntityTypeDef, found: dict[str, Any]) -> StoredRecord:
    return StoredRecord(
        id=str(found["id"]),
        workspace_id=entity_type.workspace_id,
        entity_type=entity_type.slug,
        values=found["data"],
        create_time=found["create_time"],
        update_time=found["update_time"],
    )
