"""The store's use cases: resolve endpoints, apply plans atomically, log activity, admin."""

from __future__ import annotations

import base64
import re
from typing import Any

from psycopg_pool import AsyncConnectionPool
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from inlet_common import logs
from inlet_common.errors import Violation
from inlet_store import repository as repo
from inlet_store.domain import (
    FIELD_TYPES,
    ActivityEntry,
    Endpoint,
    EntityTypeDef,
    FieldDef,
    Outcome,
    PlannedRecord,
    ResolvedEndpoint,
    Workspace,
    key_text,
)
from inlet_store.errors import (
    DanglingReference,
    InvalidArgument,
    KeyRace,
    MissingRequired,
    NotFound,
    UniqueConflictError,
    wrap_exceptions,
)
from inlet_store.tokens import new_endpoint_token, token_hash

_SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_REGION = re.compile(r"^([A-Z]{2})?$")


class Store:
    """Use cases over one connection pool."""

    def __init__(self, pool: AsyncConnectionPool[Any], *, race_attempts: int = 8) -> None:
        self.pool = pool
        self.race_attempts = race_attempts

    # -- ingest -------------------------------------------------------------------------

    async def resolve_endpoint(self, token: str) -> ResolvedEndpoint:
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.resolve_endpoint(conn, token_hash(token))
            if found is not None and not found.enabled:
                # A disabled endpoint answers like an unknown one, but the token is a real
                # credential, so its owner sees in the log that someone still pushes to it.
                await repo.execute(
                    conn,
                    "insert_activity",
                    endpoint_id=found.id,
                    request_id=logs.request_id.get(),
                    status_code=404,
                    outcome=repo.jsonb(
                        {"error": {"code": "ENDPOINT_DISABLED", "message": "endpoint is disabled"}}
                    ),
                )
        if found is None or not found.enabled:
            raise NotFound("no enabled ingest endpoint has this token", reason="ENDPOINT_NOT_FOUND")
        return found

    async def apply_plan(
        self,
        *,
        workspace_id: str,
        endpoint_id: str,
        request_id: str,
        record: PlannedRecord,
        related: dict[str, PlannedRecord],
    ) -> tuple[Outcome, dict[str, Outcome]]:
        """Match and write everything in one transaction; retry when a racer won a key."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(KeyRace),
            stop=stop_after_attempt(self.race_attempts),
            wait=wait_random_exponential(multiplier=0.005, max=0.2),
            reraise=True,
        ):
            with attempt:
                return await self._apply_once(
                    workspace_id, endpoint_id, request_id, record, related
                )
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _apply_once(
        self,
        workspace_id: str,
        endpoint_id: str,
        request_id: str,
        record: PlannedRecord,
        related: dict[str, PlannedRecord],
    ) -> tuple[Outcome, dict[str, Outcome]]:
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            related_outcomes: dict[str, Outcome] = {}
            for slug, planned in related.items():
                related_outcomes[slug] = await self._upsert(
                    conn, workspace_id, planned, f"related.{slug}"
                )
            values = dict(record.values)
            for slug, outcome in related_outcomes.items():
                values[slug] = outcome.id
            primary = PlannedRecord(
                entity_type_id=record.entity_type_id,
                values=values,
                unique_fields=record.unique_fields,
                missing_required=tuple(s for s in record.missing_required if s not in values),
                references=record.references,
            )
            outcome = await self._upsert(conn, workspace_id, primary, "record")
            summary = {
                "record": outcome.as_json(),
                "related": {slug: o.as_json() for slug, o in related_outcomes.items()},
            }
            await repo.execute(
                conn,
                "insert_activity",
                endpoint_id=endpoint_id,
                request_id=request_id,
                status_code=200,
                outcome=repo.jsonb(summary),
            )
            return outcome, related_outcomes

    async def _upsert(
        self, conn: repo.Conn, workspace_id: str, planned: PlannedRecord, entity: str
    ) -> Outcome:
        await self._check_references(conn, planned, entity)
        keys = {slug: key_text(planned.values[slug]) for slug in planned.unique_fields}
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
        matched = set(hits.values())
        if len(matched) > 1:
            raise UniqueConflictError(
                entity, [(slug, keys[slug], [hits[slug]]) for slug in keys if slug in hits]
            )
        cleared = [
            s for s, v in planned.values.items() if v is None and s not in planned.unique_fields
        ]
        if matched:
            record_id = matched.pop()
            if await repo.row(conn, "lock_record", id=record_id) is None:
                raise KeyRace("matched record was deleted concurrently")
            await repo.execute(conn, "update_record", id=record_id, data=repo.jsonb(planned.values))
            # Unique values that changed (or were cleared) move the record's keys.
            moved = [s for s in keys if s not in hits] + cleared
            if moved:
                await repo.execute(conn, "delete_keys", record_id=record_id, slugs=moved)
            new_keys = {s: keys[s] for s in keys if s not in hits}
            if new_keys:
                await self._insert_keys(conn, workspace_id, planned, record_id, new_keys)
            matched_on = tuple(s for s in planned.unique_fields if s in hits)
            return Outcome(id=record_id, action="updated", matched_on=matched_on)
        if planned.missing_required:
            raise MissingRequired(
                f"{entity} would be created without required fields",
                violations=[
                    Violation(_path(entity, slug), f"{slug} is required", "REQUIRED_FIELD_MISSING")
                    for slug in planned.missing_required
                ],
            )
        created = await repo.row(
            conn,
            "insert_record",
            workspace_id=workspace_id,
            entity_type_id=planned.entity_type_id,
            data=repo.jsonb({k: v for k, v in planned.values.items() if v is not None}),
        )
        assert created is not None
        record_id = str(created["id"])
        if keys:
            await self._insert_keys(conn, workspace_id, planned, record_id, keys)
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
                _path(entity, slug), f"no record {rid} of the referenced type", "UNKNOWN_REFERENCE"
            )
            for slug, (rid, type_id) in wanted.items()
            if found.get(rid) != type_id
        ]
        if bad:
            raise DanglingReference("reference to a record that does not exist", violations=bad)

    async def record_activity(
        self, *, endpoint_id: str, request_id: str, status_code: int, outcome: dict[str, Any]
    ) -> None:
        async with wrap_exceptions(), self.pool.connection() as conn:
            if await repo.row(conn, "endpoint_exists", id=endpoint_id) is None:
                raise NotFound(f"no ingest endpoint {endpoint_id}")
            await repo.execute(
                conn,
                "insert_activity",
                endpoint_id=endpoint_id,
                request_id=request_id,
                status_code=status_code,
                outcome=repo.jsonb(outcome),
            )

    # -- admin --------------------------------------------------------------------------

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


def _path(entity: str, slug: str) -> str:
    return f"fields.{slug}" if entity == "record" else f"{entity}.{slug}"


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
