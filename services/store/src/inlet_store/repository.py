"""SQL access for the store: every statement runs here, by name, on a given connection."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Json, Jsonb

from inlet_store.domain import EntityTypeDef, FieldDef, ResolvedEndpoint
from inlet_store.queries import STORE

Conn = AsyncConnection[Any]


# Run a named query on a connection (inlet_common.sqlfiles holds the one implementation).
rows = STORE.rows
row = STORE.row
execute = STORE.execute


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value)


def json(value: Any) -> Json:
    """For json columns: what clients sent, kept as text (jsonb would rewrite numbers)."""
    return Json(value)


def field_def(f: dict[str, Any]) -> FieldDef:
    ref = f["reference_entity_type_id"]
    return FieldDef(
        slug=f["slug"],
        display_name=f["display_name"],
        type=f["type"],
        unique=f["is_unique"],
        required=f["is_required"],
        reference_entity_type=f["reference_slug"],
        reference_entity_type_id=str(ref) if ref else None,
    )


async def resolve_endpoint(conn: Conn, token_hash: bytes) -> ResolvedEndpoint | None:
    """An endpoint by token hash, with its target and referenced types."""
    found = await rows(conn, "resolve_endpoint", token_hash=token_hash)
    return endpoint_of_rows(found) if found else None


def endpoint_of_rows(found: list[dict[str, Any]]) -> ResolvedEndpoint:
    """An endpoint from resolve_endpoint's rows: one per field of each of its types."""
    first = found[0]
    fields: dict[str, list[FieldDef]] = {}
    heads: dict[str, dict[str, Any]] = {}
    for r in found:
        type_id = str(r["type_id"])
        heads.setdefault(type_id, r)
        fields.setdefault(type_id, [])
        if r["slug"] is not None:
            fields[type_id].append(field_def(r))
    types = {
        type_id: EntityTypeDef(
            id=type_id,
            workspace_id=str(first["workspace_id"]),
            slug=head["type_slug"],
            display_name=head["type_name"],
            fields=tuple(fields[type_id]),
        )
        for type_id, head in heads.items()
    }
    target = types[str(first["target_id"])]
    return ResolvedEndpoint(
        id=str(first["endpoint_id"]),
        workspace_id=str(first["workspace_id"]),
        default_region=first["default_region"],
        enabled=first["enabled"],
        rate_limit=first["rate_limit"],
        rate_window_seconds=first["rate_window_seconds"],
        entity_type=target,
        referenced={
            f.slug: types[f.reference_entity_type_id]
            for f in target.fields
            if f.reference_entity_type_id in types
        },
    )


async def entity_types(conn: Conn, ids: list[str]) -> dict[str, EntityTypeDef]:
    """Entity types by id, with their fields in display order."""
    fields: dict[str, list[FieldDef]] = {i: [] for i in ids}
    for f in await rows(conn, "fields_of_types", ids=ids):
        fields[str(f["entity_type_id"])].append(field_def(f))
    return {
        str(t["id"]): EntityTypeDef(
            id=str(t["id"]),
            workspace_id=str(t["workspace_id"]),
            slug=t["slug"],
            display_name=t["display_name"],
            fields=tuple(fields[str(t["id"])]),
        )
        for t in await rows(conn, "entity_types_by_ids", ids=ids)
    }
