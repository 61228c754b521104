"""The admin API's use cases of workspaces, entity types and their fields."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool

from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import FailedPrecondition, Violation
from inlet_common.normalise import key_text
from inlet_store import repository as repo
from inlet_store.domain import (
    FIELD_TYPES,
    EntityTypeDef,
    FieldDef,
    Workspace,
)
from inlet_store.errors import (
    InvalidArgument,
    NotFound,
    UniqueConflictError,
    wrap_exceptions,
)
from inlet_store.tokens import new_admin_token, token_hash

T = TypeVar("T")

_SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class EntityTypeAdmin:
    """Workspaces, entity types and their fields; the base of the admin use cases."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def create_workspace(self, slug: str, display_name: str) -> tuple[Workspace, str]:
        """The workspace and its first admin token (the only copy)."""
        _check_slug("workspace.slug", slug)
        token = new_admin_token()
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            created = await repo.row(
                conn, "insert_workspace", slug=slug, display_name=display_name or slug
            )
            assert created is not None
            await repo.execute(
                conn, "insert_admin_token", workspace_id=created["id"], token_hash=token_hash(token)
            )
            workspace = Workspace(str(created["id"]), created["slug"], created["display_name"])
        return workspace, token

    async def create_admin_token(self, workspace_key: str) -> str:
        workspace = await self.get_workspace(workspace_key)
        token = new_admin_token()
        async with wrap_exceptions(), self.pool.connection() as conn:
            await repo.execute(
                conn, "insert_admin_token", workspace_id=workspace.id, token_hash=token_hash(token)
            )
        return token

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
            if f.slug in seen:
                problems.append(
                    Violation(f"{path}.slug", f"duplicate slug {f.slug!r}", "DUPLICATE")
                )
            seen.add(f.slug)
            problems.extend(_field_problems(path, f))
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
                ref_id = await _reference_target(
                    conn,
                    workspace.id,
                    f.reference_entity_type,
                    f"entity_type.fields[{position}].reference_entity_type",
                )
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

    # -- entity types and fields ------------------------------------------------------------

    async def list_entity_types(
        self, workspace_key: str, page_size: int, page_token: str
    ) -> tuple[list[EntityTypeDef], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("entityTypes", workspace_key)
        cursor = tokens.decode(page_token, 1)
        after = paging.as_text(cursor[0]) if cursor else ""
        workspace = await self.get_workspace(workspace_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.rows(
                conn, "list_entity_types", workspace_id=workspace.id, after=after, limit=limit + 1
            )
            ids = [str(r["id"]) for r in found[:limit]]
            types = await repo.entity_types(conn, ids)
        page = sorted(types.values(), key=lambda t: t.slug)
        return page, tokens.page(found, limit, lambda r: (r["slug"],))[1]

    async def delete_entity_type(self, workspace_key: str, key: str) -> None:
        entity_type = await self.get_entity_type(workspace_key, key)
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            if await repo.row(conn, "lock_entity_type", id=entity_type.id) is None:
                raise NotFound(f"entity type {key!r} not found", reason="ENTITY_TYPE_NOT_FOUND")
            usage = await repo.row(conn, "entity_type_usage", id=entity_type.id)
            assert usage is not None
            if usage["records"]:
                raise FailedPrecondition(
                    f"entity type {entity_type.slug!r} has {usage['records']} records; "
                    "only an empty type can be deleted",
                    reason="ENTITY_TYPE_NOT_EMPTY",
                )
            users = [
                f"{usage[kind]} {label}"
                for kind, label in (
                    ("endpoints", "ingest endpoints"),
                    ("streams", "streams"),
                    ("integrations", "integrations"),
                    ("client_tokens", "client tokens"),
                    ("sessions", "push session types"),
                )
                if usage[kind]
            ]
            if usage["referenced_by"]:
                users.append(f"reference fields {usage['referenced_by']}")
            if users:
                raise FailedPrecondition(
                    f"entity type {entity_type.slug!r} is used by {' and '.join(users)}",
                    reason="ENTITY_TYPE_IN_USE",
                )
            await repo.execute(conn, "delete_entity_type", id=entity_type.id)

    async def create_field(self, workspace_key: str, type_key: str, f: FieldDef) -> EntityTypeDef:
        problems = _field_problems("field", f)
        if f.required:
            problems.append(
                Violation(
                    "field.required",
                    "a new field cannot be required: existing records lack it; add it, "
                    "then make it required",
                    "INVALID_REQUIRED",
                )
            )
        if problems:
            raise InvalidArgument("invalid field", violations=problems)
        entity_type = await self.get_entity_type(workspace_key, type_key)
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            await repo.row(conn, "lock_entity_type", id=entity_type.id)
            ref_id = await _reference_target(
                conn,
                entity_type.workspace_id,
                f.reference_entity_type,
                "field.reference_entity_type",
            )
            position = await repo.row(conn, "next_field_position", id=entity_type.id)
            assert position is not None
            # A new field has no values yet, so a unique one needs no backfill; values a
            # record kept from a removed field of the same slug were stripped with it.
            await repo.execute(
                conn,
                "insert_field",
                entity_type_id=entity_type.id,
                slug=f.slug,
                display_name=f.display_name or f.slug,
                type=f.type,
                is_unique=f.unique,
                is_required=False,
                reference_entity_type_id=ref_id,
                position=position["position"],
            )
            return (await repo.entity_types(conn, [entity_type.id]))[entity_type.id]

    async def update_field(
        self,
        workspace_key: str,
        type_key: str,
        slug: str,
        *,
        display_name: str | None = None,
        unique: bool | None = None,
        required: bool | None = None,
    ) -> tuple[EntityTypeDef, int]:
        """The changed type, and how many key rows a unique backfill wrote."""
        entity_type = await self.get_entity_type(workspace_key, type_key)
        field = field_of(entity_type, slug)
        if unique and field.type in ("reference", "boolean"):
            raise InvalidArgument(
                f"a {field.type} field cannot be unique",
                violations=[
                    Violation("field.field.unique", "type cannot be unique", "INVALID_UNIQUE")
                ],
            )
        backfilled = 0
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            await repo.row(conn, "lock_entity_type", id=entity_type.id)
            if unique is True and not field.unique:
                backfilled = await self._backfill_keys(conn, entity_type, slug)
            elif unique is False and field.unique:
                await repo.execute(
                    conn, "delete_field_keys", entity_type_id=entity_type.id, slug=slug
                )
            await repo.execute(
                conn,
                "update_field",
                entity_type_id=entity_type.id,
                slug=slug,
                display_name=display_name,
                is_unique=unique,
                is_required=required,
            )
            return (await repo.entity_types(conn, [entity_type.id]))[entity_type.id], backfilled

    async def _backfill_keys(self, conn: repo.Conn, entity_type: EntityTypeDef, slug: str) -> int:
        """Index every stored value of `slug`, or refuse listing the duplicates."""
        await repo.execute(conn, "lock_records_for_backfill")
        by_value: dict[str, list[str]] = {}
        for r in await repo.rows(conn, "field_values", entity_type_id=entity_type.id, slug=slug):
            by_value.setdefault(key_text(r["value"]), []).append(str(r["id"]))
        duplicates = [(slug, value, ids) for value, ids in by_value.items() if len(ids) > 1]
        if duplicates:
            error = UniqueConflictError(entity_type.slug, duplicates)
            error.reason = "DUPLICATE_VALUES"
            error.message = (
                f"{len(duplicates)} values of {entity_type.slug}.{slug} are shared by several "
                "records; make them distinct, then turn unique on ("
                + "; ".join(f"{v!r}: {', '.join(ids)}" for _, v, ids in duplicates[:10])
                + (" …)" if len(duplicates) > 10 else ")")
            )
            raise error
        if by_value:
            await repo.execute(
                conn,
                "insert_keys_bulk",
                workspace_id=entity_type.workspace_id,
                entity_type_id=entity_type.id,
                slug=slug,
                values=list(by_value),
                record_ids=[ids[0] for ids in by_value.values()],
            )
        return len(by_value)

    async def delete_field(self, workspace_key: str, type_key: str, slug: str) -> EntityTypeDef:
        entity_type = await self.get_entity_type(workspace_key, type_key)
        field_of(entity_type, slug)
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            await repo.row(conn, "lock_entity_type", id=entity_type.id)
            await repo.execute(conn, "delete_field_keys", entity_type_id=entity_type.id, slug=slug)
            await repo.execute(conn, "strip_field_values", entity_type_id=entity_type.id, slug=slug)
            await repo.execute(conn, "delete_field", entity_type_id=entity_type.id, slug=slug)
            return (await repo.entity_types(conn, [entity_type.id]))[entity_type.id]

    async def _newest_first(
        self,
        query: str,
        tokens: PageTokens,
        limit: int,
        cursor: list[str | int] | None,
        make: Callable[[dict[str, Any]], T],
        **params: Any,
    ) -> tuple[list[T], str]:
        """One page of `query`'s rows, newest first, keyed by (create_time, id)."""
        before_time = paging.as_time(cursor[0]) if cursor else None
        before_id = paging.as_text(cursor[1]) if cursor else None
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.rows(
                conn,
                query,
                before_time=before_time,
                before_id=before_id,
                limit=limit + 1,
                **params,
            )
        page, next_token = tokens.page(found, limit, lambda r: (r["create_time"], str(r["id"])))
        return [make(r) for r in page], next_token


def _field_problems(path: str, f: FieldDef) -> list[Violation]:
    problems: list[Violation] = []
    if not _SLUG.match(f.slug):
        problems.append(Violation(f"{path}.slug", f"bad slug {f.slug!r}", "INVALID_SLUG"))
    if f.type not in FIELD_TYPES:
        problems.append(Violation(f"{path}.type", f"unknown type {f.type!r}", "INVALID_TYPE"))
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
            Violation(f"{path}.unique", f"a {f.type} field cannot be unique", "INVALID_UNIQUE")
        )
    return problems


def field_of(entity_type: EntityTypeDef, slug: str) -> FieldDef:
    for f in entity_type.fields:
        if f.slug == slug:
            return f
    raise NotFound(
        f"entity type {entity_type.slug!r} has no field {slug!r}", reason="FIELD_NOT_FOUND"
    )


async def _reference_target(conn: repo.Conn, workspace_id: str, slug: str, field: str) -> Any:
    """The id of the entity type a reference field points at (None: not a reference)."""
    if not slug:
        return None
    target = await repo.row(conn, "entity_type_by_slug", workspace_id=workspace_id, key=slug)
    if target is None:
        raise InvalidArgument(
            f"unknown entity type {slug!r}",
            violations=[Violation(field, "no such entity type", "INVALID_REFERENCE")],
        )
    return target["id"]


def _check_slug(field: str, slug: str) -> None:
    if not _SLUG.match(slug):
        raise InvalidArgument(
            f"{field} must match {_SLUG.pattern}",
            violations=[Violation(field, f"bad slug {slug!r}", "INVALID_SLUG")],
        )
