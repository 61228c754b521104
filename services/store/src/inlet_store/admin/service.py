"""The admin API's use cases: workspaces, entity types, ingest endpoints, activity."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import phonenumbers
from psycopg_pool import AsyncConnectionPool

from inlet.type.v1 import entity_pb2
from inlet_common import exactjson, normalise
from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import FailedPrecondition, Violation
from inlet_common.normalise import key_text
from inlet_store import guards
from inlet_store import repository as repo
from inlet_store.domain import (
    FIELD_TYPES,
    ActivityEntry,
    DialectActivity,
    Endpoint,
    EntityTypeDef,
    FieldDef,
    RecordRequest,
    StoredRecord,
    Workspace,
)
from inlet_store.errors import (
    InvalidArgument,
    NotFound,
    UniqueConflictError,
    wrap_exceptions,
)
from inlet_store.tokens import new_admin_token, new_endpoint_token, token_hash

T = TypeVar("T")

_SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_REGION = re.compile(r"^([A-Z]{2})?$")


class Admin:
    """Admin use cases over one connection pool."""

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

    async def create_endpoint(
        self,
        workspace_key: str,
        display_name: str,
        entity_type_key: str,
        default_region: str,
        *,
        rate_limit: int = 0,
        rate_window_seconds: int = 0,
    ) -> tuple[Endpoint, str]:
        """The endpoint and its token (the only copy); a rate setting of 0 takes the default."""
        if not _REGION.match(default_region):
            raise InvalidArgument(
                "default_region must be an ISO 3166 alpha-2 code such as NO",
                violations=[
                    Violation(
                        "ingest_endpoint.default_region", "not a region code", "INVALID_REGION"
                    )
                ],
            )
        rate_limit = rate_limit or guards.DEFAULT_RATE_LIMIT
        rate_window_seconds = rate_window_seconds or guards.DEFAULT_RATE_WINDOW
        guards.check_rate_settings("ingest_endpoint", rate_limit, rate_window_seconds)
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
                rate_limit=rate_limit,
                rate_window_seconds=rate_window_seconds,
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
            rate_limit=created["rate_limit"],
            rate_window_seconds=created["rate_window_seconds"],
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
        return _endpoint(found)

    async def update_endpoint(
        self,
        workspace_key: str,
        endpoint_key: str,
        *,
        display_name: str | None = None,
        enabled: bool | None = None,
        rate_limit: int | None = None,
        rate_window_seconds: int | None = None,
    ) -> Endpoint:
        """Change the settings given (None: keep); unlike on create, 0 is no default here."""
        guards.check_rate_settings("ingest_endpoint", rate_limit, rate_window_seconds)
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            await repo.execute(
                conn,
                "update_endpoint",
                id=endpoint.id,
                display_name=display_name,
                enabled=enabled,
                rate_limit=rate_limit,
                rate_window_seconds=rate_window_seconds,
            )
        return await self.get_endpoint(workspace_key, endpoint_key)

    async def list_activity(
        self,
        workspace_key: str,
        endpoint_key: str,
        page_size: int,
        page_token: str,
        *,
        status_code: int = 0,
        errors_only: bool = False,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> tuple[list[ActivityEntry], str]:
        limit = paging.page_size(page_size)
        # The filter travels in the token, so a page is never read with another filter.
        tokens = PageTokens(
            "activityEntries",
            workspace_key,
            endpoint_key,
            status_code,
            errors_only,
            start_time,
            end_time,
        )
        cursor = tokens.decode(page_token, 1)
        before = paging.as_int(cursor[0]) if cursor else 2**63 - 1
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.rows(
                conn,
                "list_activity_filtered",
                endpoint_id=endpoint.id,
                before_id=before,
                status_code=status_code,
                errors_only=errors_only,
                start_time=start_time,
                end_time=end_time,
                limit=limit + 1,
            )
        entries = [
            ActivityEntry(
                r["id"],
                r["request_id"],
                r["status_code"],
                r["outcome"],
                r["create_time"],
                previous_token=r["previous_token"],
                client_request_id=r["client_request_id"],
            )
            for r in found[:limit]
        ]
        return entries, tokens.page(found, limit, lambda r: (r["id"],))[1]

    async def get_record(self, record_id: str) -> dict[str, Any] | None:
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await repo.row(conn, "get_record", id=record_id)

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
        field = _field_of(entity_type, slug)
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
        _field_of(entity_type, slug)
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

    # -- endpoints --------------------------------------------------------------------------

    async def list_endpoints(
        self, workspace_key: str, page_size: int, page_token: str
    ) -> tuple[list[Endpoint], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("ingestEndpoints", workspace_key)
        cursor = tokens.decode(page_token, 2)
        workspace = await self.get_workspace(workspace_key)
        return await self._newest_first(
            "list_endpoints", tokens, limit, cursor, _endpoint, workspace_id=workspace.id
        )

    async def rotate_endpoint_token(
        self, workspace_key: str, endpoint_key: str, grace_seconds: float
    ) -> tuple[Endpoint, str]:
        if not 0 <= grace_seconds <= _MAX_GRACE_SECONDS:
            raise InvalidArgument(
                "grace_period must be between 0 and 7 days",
                violations=[
                    Violation("grace_period", f"{grace_seconds:g}s is out of range", "OUT_OF_RANGE")
                ],
            )
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        token = new_endpoint_token()
        async with wrap_exceptions(), self.pool.connection() as conn:
            await repo.execute(
                conn,
                "rotate_endpoint_token",
                id=endpoint.id,
                token_hash=token_hash(token),
                grace_seconds=grace_seconds,
            )
        return await self.get_endpoint(workspace_key, endpoint_key), token

    async def delete_endpoint(self, workspace_key: str, endpoint_key: str) -> None:
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            await repo.execute(conn, "delete_endpoint", id=endpoint.id)

    async def endpoint_example(
        self, workspace_key: str, endpoint_key: str
    ) -> tuple[dict[str, Any], list[tuple[str, FieldDef]]]:
        """A body the endpoint accepts, and each of its fields by path. A type with sample
        records (push transfer's sample_data) shows the newest one's values."""
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        target = await self.get_entity_type(workspace_key, endpoint.entity_type)
        described: list[tuple[str, FieldDef]] = []
        fields: dict[str, Any] = {}
        related: dict[str, Any] = {}

        async def example(entity_type: EntityTypeDef) -> Callable[[FieldDef], Any]:
            async with wrap_exceptions(), self.pool.connection() as conn:
                found = await repo.row(conn, "newest_sample_record", entity_type_id=entity_type.id)
            stored = dict(found["data"]) if found else {}

            def value(f: FieldDef) -> Any:
                if stored.get(f.slug) is not None:
                    return stored[f.slug]
                return sample_value(f, endpoint.default_region)

            return value

        value_of = await example(target)
        for f in target.fields:
            if f.type == "reference":
                referenced = await self.get_entity_type(workspace_key, f.reference_entity_type)
                nested_value = await example(referenced)
                nested: dict[str, Any] = {}
                for g in referenced.fields:
                    # Related records may not set their own references (the ingest rule).
                    if g.type != "reference":
                        nested[g.slug] = nested_value(g)
                        described.append((f"related.{f.slug}.{g.slug}", g))
                related[f.slug] = nested
                continue
            fields[f.slug] = value_of(f)
            described.append((f"fields.{f.slug}", f))
        payload: dict[str, Any] = {"fields": fields}
        if related:
            payload["related"] = related
        return payload, described

    # -- records ----------------------------------------------------------------------------

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
        field = _field_of(entity_type, slug)
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

    # -- the overview -------------------------------------------------------------------------

    async def summarize_activity(
        self, workspace_key: str, start_time: datetime | None
    ) -> tuple[list[DialectActivity], datetime]:
        """Requests, errors and the last request of each dialect since start_time."""
        workspace = await self.get_workspace(workspace_key)
        now = datetime.now(UTC)
        start = start_time or now - timedelta(days=1)
        if start > now:
            raise InvalidArgument(
                "start_time is in the future",
                violations=[Violation("start_time", "must not be in the future", "IN_FUTURE")],
            )
        summaries: list[DialectActivity] = []
        async with wrap_exceptions(), self.pool.connection() as conn:
            for dialect, query in (
                ("endpoint_push", "summarize_endpoint_activity"),
                ("stream_ingest", "summarize_stream_activity"),
            ):
                found = await repo.row(conn, query, workspace_id=workspace.id, start_time=start)
                assert found is not None
                summaries.append(
                    DialectActivity(
                        dialect=dialect,
                        request_count=found["request_count"],
                        error_count=found["error_count"],
                        last_request_time=found["last_request_time"],
                        source_count=found["source_count"],
                    )
                )
        return summaries, start


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


_MAX_GRACE_SECONDS = 7 * 24 * 3600
_REGION_HINT = ": give a region (e.g. NO) or write the number as +<country code>…"

_SAMPLES: dict[str, Any] = {
    "text": "Example text",
    "email": "ola.nordmann@example.com",
    "number": 42,
    "integer": 42,
    "boolean": True,
    "datetime": "2025-01-31T09:30:00Z",
}

# A valid example number per region (phonenumbers knows one for every region).
_DEFAULT_PHONE = "+4799887766"


def sample_value(f: FieldDef, region: str) -> Any:
    """A typed value that field `f` accepts (what the example body shows)."""
    if f.type == "phone":
        example = phonenumbers.example_number(region) if region else None
        if example is None:
            return _DEFAULT_PHONE
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    if f.type == "text" and f.slug in ("name", "title"):
        return "Ola Nordmann" if f.slug == "name" else "Example title"
    return _SAMPLES.get(f.type, "")


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


def _field_of(entity_type: EntityTypeDef, slug: str) -> FieldDef:
    for f in entity_type.fields:
        if f.slug == slug:
            return f
    raise NotFound(
        f"entity type {entity_type.slug!r} has no field {slug!r}", reason="FIELD_NOT_FOUND"
    )


def _field_pb(f: FieldDef) -> entity_pb2.Field:
    return entity_pb2.Field(
        slug=f.slug, type=entity_pb2.FieldType.Value(f"FIELD_TYPE_{f.type.upper()}")
    )


def _typed(f: FieldDef, value: str) -> Any:
    """A looked-up value arrives as text; numbers are parsed the way JSON would give them."""
    if f.type in ("number", "integer"):
        return exactjson.number_or_text(value)
    return value


def _endpoint(found: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=str(found["id"]),
        workspace_id=str(found["workspace_id"]),
        display_name=found["display_name"],
        entity_type=found["entity_type"],
        enabled=found["enabled"],
        default_region=found["default_region"],
        create_time=found["create_time"],
        rate_limit=found["rate_limit"],
        rate_window_seconds=found["rate_window_seconds"],
        previous_token_expire_time=found["previous_token_expire_time"],
    )


def _record(entity_type: EntityTypeDef, found: dict[str, Any]) -> StoredRecord:
    return StoredRecord(
        id=str(found["id"]),
        workspace_id=entity_type.workspace_id,
        entity_type=entity_type.slug,
        values=found["data"],
        create_time=found["create_time"],
        update_time=found["update_time"],
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
