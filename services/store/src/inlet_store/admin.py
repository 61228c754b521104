"""The admin API's use cases: workspaces, entity types, ingest endpoints, activity."""

from __future__ import annotations

import base64
import re
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common.errors import Violation
from inlet_store import repository as repo
from inlet_store.domain import (
    FIELD_TYPES,
    ActivityEntry,
    Endpoint,
    EntityTypeDef,
    FieldDef,
    Workspace,
)
from inlet_store.errors import InvalidArgument, NotFound, wrap_exceptions
from inlet_store.tokens import new_endpoint_token, token_hash

_SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_REGION = re.compile(r"^([A-Z]{2})?$")


class Admin:
    """Admin use cases over one connection pool."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def create_workspace(self, slug: str, display_name: str) -> Workspace:
        _check_slug("workspace.slug", slug)
        async with wrap_exceptions(), self.pool.connection() as conn:
            created = await repo.row(
                conn, "insert_workspace", slug=slug, display_name=display_name or slug
            )
            assert created is not None
            return Workspace(str(created["id"]), created["slug"], created["display_name"])

    async def get_workspace(self, key: str) -> Workspace:
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.row(conn, "workspace_by_key", key=key)
            if found is None:
                raise NotFound(f"workspace {key!r} not found", reason="WORKSPACE_NOT_FOUND")
            return Workspace(str(found["id"]), found["slug"], found["display_name"])

    async def create_entity_type(
        self, workspace_key: str, slug: str, display_name: str, fields: list[FieldDef]
    ) -> EntityTypeDef:
        _check_slug("entity_type.slug", slug)
        problems: list[Violation] = []
        seen: set[str] = set()
        for i, f in enumerate(fields):
            path = f"entity_type.fields[{i}]"
            if not _SLUG.match(f.slug):
                problems.append(Violation(f"{path}.slug", f"bad slug {f.slug!r}", "INVALID_SLUG"))
            if f.slug in seen:
                problems.append(
                    Violation(f"{path}.slug", f"duplicate slug {f.slug!r}", "DUPLICATE")
                )
            seen.add(f.slug)
            if f.type not in FIELD_TYPES:
                problems.append(
                    Violation(f"{path}.type", f"unknown type {f.type!r}", "INVALID_TYPE")
                )
            if (f.type == "reference") != bool(f.reference_entity_type):
                problems.append(
                    Violation(
                        f"{path}.reference_entity_type",
                        "reference fields, and only they, name a reference_entity_type",
                        "INVALID_REFERENCE",
                    )
                )
            if f.unique and f.type in ("reference", "boolean"):
                problems.append(
                    Violation(
                        f"{path}.unique", f"a {f.type} field cannot be unique", "INVALID_UNIQUE"
                    )
                )
        if problems:
            raise InvalidArgument("invalid entity type", violations=problems)
        workspace = await self.get_workspace(workspace_key)
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            created = await repo.row(
                conn,
                "insert_entity_type",
                workspace_id=workspace.id,
                slug=slug,
                display_name=display_name or slug,
            )
            assert created is not None
            type_id = str(created["id"])
            for position, f in enumerate(fields):
                ref_id = None
                if f.reference_entity_type:
                    target = await repo.row(
                        conn,
                        "entity_type_by_slug",
                        workspace_id=workspace.id,
                        key=f.reference_entity_type,
                    )
                    if target is None:
                        raise InvalidArgument(
                            f"unknown entity type {f.reference_entity_type!r}",
                            violations=[
                                Violation(
                                    f"entity_type.fields[{position}].reference_entity_type",
                                    "no such entity type",
                                    "INVALID_REFERENCE",
                                )
                            ],
                        )
                    ref_id = target["id"]
                await repo.execute(
                    conn,
                    "insert_field",
                    entity_type_id=type_id,
                    slug=f.slug,
                    display_name=f.display_name or f.slug,
                    type=f.type,
                    is_unique=f.unique,
                    is_required=f.required,
                    reference_entity_type_id=ref_id,
                    position=position,
                )
            return (await repo.entity_types(conn, [type_id]))[type_id]

    async def get_entity_type(self, workspace_key: str, key: str) -> EntityTypeDef:
        workspace = await self.get_workspace(workspace_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.row(conn, "entity_type_by_slug", workspace_id=workspace.id, key=key)
            if found is None:
                raise NotFound(f"entity type {key!r} not found", reason="ENTITY_TYPE_NOT_FOUND")
            type_id = str(found["id"])
            return (await repo.entity_types(conn, [type_id]))[type_id]

    async def create_endpoint(
        self, workspace_key: str, display_name: str, entity_type_key: str, default_region: str
    ) -> tuple[Endpoint, str]:
        if not _REGION.match(default_region):
            raise InvalidArgument(
                "default_region must be an ISO 3166 alpha-2 code such as NO",
                violations=[
                    Violation(
                        "ingest_endpoint.default_region", "not a region code", "INVALID_REGION"
                    )
                ],
            )
        entity_type = await self.get_entity_type(workspace_key, entity_type_key)
        token = new_endpoint_token()
        async with wrap_exceptions(), self.pool.connection() as conn:
            created = await repo.row(
                conn,
                "insert_endpoint",
                workspace_id=entity_type.workspace_id,
                entity_type_id=entity_type.id,
                display_name=display_name or entity_type.slug,
                token_hash=token_hash(token),
                default_region=default_region,
            )
            assert created is not None
        endpoint = Endpoint(
            id=str(created["id"]),
            workspace_id=entity_type.workspace_id,
            display_name=display_name or entity_type.slug,
            entity_type=entity_type.slug,
            enabled=created["enabled"],
            default_region=default_region,
            create_time=created["create_time"],
        )
        return endpoint, token

    async def get_endpoint(self, workspace_key: str, endpoint_key: str) -> Endpoint:
        workspace = await self.get_workspace(workspace_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.row(
                conn, "endpoint_by_key", workspace_id=workspace.id, key=endpoint_key
            )
        if found is None:
            raise NotFound(
                f"ingest endpoint {endpoint_key!r} not found", reason="ENDPOINT_NOT_FOUND"
            )
        return Endpoint(
            id=str(found["id"]),
            workspace_id=str(found["workspace_id"]),
            display_name=found["display_name"],
            entity_type=found["entity_type"],
            enabled=found["enabled"],
            default_region=found["default_region"],
            create_time=found["create_time"],
        )

    async def update_endpoint(
        self,
        workspace_key: str,
        endpoint_key: str,
        *,
        display_name: str | None = None,
        enabled: bool | None = None,
    ) -> Endpoint:
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            await repo.execute(
                conn, "update_endpoint", id=endpoint.id, display_name=display_name, enabled=enabled
            )
        return await self.get_endpoint(workspace_key, endpoint_key)

    async def list_activity(
        self, workspace_key: str, endpoint_key: str, page_size: int, page_token: str
    ) -> tuple[list[ActivityEntry], str]:
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        limit = min(max(page_size or 50, 1), 500)
        before = _decode_page_token(page_token)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.rows(
                conn, "list_activity", endpoint_id=endpoint.id, before_id=before, limit=limit + 1
            )
        entries = [
            ActivityEntry(
                r["id"], r["request_id"], r["status_code"], r["outcome"], r["create_time"]
            )
            for r in found[:limit]
        ]
        next_token = _encode_page_token(entries[-1].id) if len(found) > limit else ""
        return entries, next_token

    async def get_record(self, record_id: str) -> dict[str, Any] | None:
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await repo.row(conn, "get_record", id=record_id)


def _check_slug(field: str, slug: str) -> None:
    if not _SLUG.match(slug):
        raise InvalidArgument(
            f"{field} must match {_SLUG.pattern}",
            violations=[Violation(field, f"bad slug {slug!r}", "INVALID_SLUG")],
        )


def _encode_page_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"a:{last_id}".encode()).decode()


def _decode_page_token(token: str) -> int:
    if not token:
        return 2**63 - 1
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "a":
            raise ValueError(kind)
        return int(value)
    except ValueError:
        raise InvalidArgument(
            "page_token is not one this API issued",
            violations=[Violation("page_token", "malformed page token", "INVALID_PAGE_TOKEN")],
        ) from None
