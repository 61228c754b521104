"""SQL access for the store: every statement runs here, by name, on a given connection."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from inlet_store.domain import EntityTypeDef, FieldDef
from inlet_store.queries import q

Conn = AsyncConnection[Any]


async def rows(conn: Conn, name: str, **params: Any) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(q(name), params)
        return await cur.fetchall()


async def row(conn: Conn, name: str, **params: Any) -> dict[str, Any] | None:
    found = await rows(conn, name, **params)
    return found[0] if found else None


async def execute(conn: Conn, name: str, **params: Any) -> int:
    async with conn.cursor() as cur:
        await cur.execute(q(name), params)
        return cur.rowcount


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value)


async def entity_types(conn: Conn, ids: list[str]) -> dict[str, EntityTypeDef]:
    """Entity types by id, with their fields in display order."""
    fields: dict[str, list[FieldDef]] = {i: [] for i in ids}
    for f in await rows(conn, "fields_of_types", ids=ids):
        ref = f["reference_entity_type_id"]
        fields[str(f["entity_type_id"])].append(
            FieldDef(
                slug=f["slug"],
                display_name=f["display_name"],
                type=f["type"],
                unique=f["is_unique"],
                required=f["is_required"],
                reference_entity_type=f["reference_slug"],
                reference_entity_type_id=str(ref) if ref else None,
            )
        )
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
