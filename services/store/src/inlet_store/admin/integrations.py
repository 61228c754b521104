"""Integration ingest's admin use cases: integrations and their mappings, and the activity
log of the external API (its tokens are in integration_tokens)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from inlet_common import exactjson, mapping_checks, mappings
from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import InvalidArgument, NotFound, Violation
from inlet_common.integration_bodies import MappedBody, map_body
from inlet_store import guards
from inlet_store import repository as repo
from inlet_store.admin.integration_tokens import (
    REGION,
    REGION_TEXT,
    IntegrationTokens,
    bad,
)
from inlet_store.domain import EntityTypeDef
from inlet_store.errors import wrap_exceptions

_INTEGRATION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_BODY_BYTES = 1024 * 1024


class IntegrationNotFound(NotFound):
    reason = "INTEGRATION_NOT_FOUND"


@dataclass(frozen=True)
class IntegrationValues:
    """An integration as the admin API sets it (0 and "" for a default when creating)."""

    display_name: str = ""
    type: str = ""
    entity_type: str = ""
    enabled: bool = True
    default_region: str = ""
    mapping: Any = None  # the mapping's JSON, or None
    max_body_bytes: int = 0
    rate_limit: int = 0
    rate_window_seconds: int = 0


class IntegrationAdmin(IntegrationTokens):
    """Use cases over one pool."""

    # -- integrations -----------------------------------------------------------------------

    async def _check_integration(
        self, conn: repo.Conn, workspace_id: str, values: IntegrationValues
    ) -> EntityTypeDef:
        """The entity type, once every value is checked; InvalidArgument naming each bad one."""
        if not values.type:
            raise bad(
                "integration.type",
                f"integration.type is required ({', '.join(mappings.SUPPORTED_TYPES)})",
                "REQUIRED",
            )
        if values.type not in mappings.SUPPORTED_TYPES:
            detail = mappings.TypeNotSupported(values.type).message
            raise InvalidArgument(
                detail,
                reason=mappings.TYPE_NOT_SUPPORTED,
                violations=[Violation("integration.type", detail, mappings.TYPE_NOT_SUPPORTED)],
            )
        if not REGION.match(values.default_region):
            raise bad("integration.default_region", REGION_TEXT, "INVALID_REGION")
        if not 1 <= values.max_body_bytes <= MAX_BODY_BYTES:
            raise bad(
                "integration.max_body_bytes",
                f"max_body_bytes must be between 1 and {MAX_BODY_BYTES}",
                "OUT_OF_RANGE",
            )
        guards.check_rate_settings("integration", values.rate_limit, values.rate_window_seconds)
        entity_type = await self._entity_type(
            conn, workspace_id, values.entity_type, "integration.entity_type"
        )
        await self._check_mapping(conn, values, entity_type)
        return entity_type

    async def _check_mapping(
        self, conn: repo.Conn, values: IntegrationValues, entity_type: EntityTypeDef
    ) -> None:
        where = "integration.mapping"
        if values.type == mappings.GENERIC:
            if values.mapping is not None:
                raise bad(
                    where,
                    "a GENERIC integration takes the body's keys as field slugs and has no"
                    " mapping; use type MAPPING to map fields",
                    "NOT_ALLOWED",
                )
            return
        if values.mapping is None:
            if values.type == mappings.MAPPING:
                raise bad(where, "a MAPPING integration needs a mapping", "REQUIRED")
            return
        parsed = mapping_checks.parse(values.mapping, where)
        referenced_ids = {
            f.slug: f.reference_entity_type_id
            for f in entity_type.fields
            if f.reference_entity_type_id
        }
        referenced = await repo.entity_types(conn, sorted(set(referenced_ids.values())))
        problems = mapping_checks.check(
            parsed,
            {f.slug: f.type for f in entity_type.fields},
            {
                slug: {f.slug: f.type for f in referenced[type_id].fields}
                for slug, type_id in referenced_ids.items()
                if type_id in referenced
            },
            where,
        )
        if problems:
            raise mapping_checks.invalid_mapping(problems)

    async def create_integration(
        self, workspace: str, integration_id: str, values: IntegrationValues
    ) -> dict[str, Any]:
        slug = integration_id or f"int_{secrets.token_hex(6)}"
        if not _INTEGRATION_ID.match(slug):
            raise bad(
                "integration_id",
                f"integration_id must be 1 to 63 of a-z 0-9 _ -, starting with a letter or"
                f" digit, got {integration_id!r}",
                "INVALID_ID",
            )
        values = replace(
            values,
            max_body_bytes=values.max_body_bytes or MAX_BODY_BYTES,
            rate_limit=values.rate_limit or guards.DEFAULT_RATE_LIMIT,
            rate_window_seconds=values.rate_window_seconds or guards.DEFAULT_RATE_WINDOW,
        )
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            workspace_id = await self._workspace_id(conn, workspace)
            entity_type = await self._check_integration(conn, workspace_id, values)
            await repo.row(
                conn,
                "insert_integration",
                workspace_id=workspace_id,
                slug=slug,
                display_name=values.display_name or slug,
                type=values.type,
                entity_type_id=entity_type.id,
                default_region=values.default_region,
                mapping=repo.json(values.mapping) if values.mapping is not None else None,
                enabled=values.enabled,
                max_body_bytes=values.max_body_bytes,
                rate_limit=values.rate_limit,
                rate_window_seconds=values.rate_window_seconds,
            )
            return await self._integration(conn, workspace_id, slug)

    async def _integration(self, conn: repo.Conn, workspace_id: str, slug: str) -> dict[str, Any]:
        found = await repo.row(conn, "get_integration", workspace_id=workspace_id, slug=slug)
        if found is None:
            raise IntegrationNotFound(f"Integration with ID {slug} not found")
        return found

    async def get_integration(self, workspace: str, slug: str) -> dict[str, Any]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await self._integration(conn, await self._workspace_id(conn, workspace), slug)

    async def list_integrations(
        self, workspace: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("integrations", workspace)
        cursor = tokens.decode(page_token, 1)
        after = paging.as_text(cursor[0]) if cursor else ""
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            found = await repo.rows(
                conn, "list_integrations", workspace_id=workspace_id, after=after, limit=limit + 1
            )
        return tokens.page(found, limit, lambda r: (r["slug"],))

    async def update_integration(
        self, workspace: str, slug: str, given: IntegrationValues, mask: Collection[str]
    ) -> dict[str, Any]:
        """Change the fields in `mask`; the integration as a whole is checked again (a type
        and its mapping go together)."""
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            workspace_id = await self._workspace_id(conn, workspace)
            current = await self._integration(conn, workspace_id, slug)
            await repo.row(conn, "lock_integration", id=current["id"])
            merged = IntegrationValues(
                **{
                    name: getattr(given, name) if name in mask else _stored(current, name)
                    for name in IntegrationValues.__dataclass_fields__
                }
            )
            await self._check_integration(conn, workspace_id, merged)
            await repo.execute(
                conn,
                "update_integration",
                id=current["id"],
                **{f"set_{name}": name in mask for name in _UPDATABLE},
                display_name=merged.display_name or slug,
                type=merged.type,
                enabled=merged.enabled,
                default_region=merged.default_region,
                mapping=repo.json(merged.mapping) if merged.mapping is not None else None,
                max_body_bytes=merged.max_body_bytes,
                rate_limit=merged.rate_limit,
                rate_window_seconds=merged.rate_window_seconds,
            )
            return await self._integration(conn, workspace_id, slug)

    async def delete_integration(self, workspace: str, slug: str) -> None:
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await self._integration(conn, await self._workspace_id(conn, workspace), slug)
            await repo.execute(conn, "delete_integration", id=found["id"])

    async def test_mapping(self, workspace: str, slug: str, sample: bytes) -> MappedBody:
        """What the integration's mapping finds in `sample` (writes nothing)."""
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await self._integration(conn, await self._workspace_id(conn, workspace), slug)
            entity_type = (await repo.entity_types(conn, [str(found["entity_type_id"])]))[
                str(found["entity_type_id"])
            ]
        mappings.check_type(found["type"])
        try:
            document = exactjson.loads(sample)
        except exactjson.DecodeError as error:
            raise bad(
                "sample", f"the sample is not valid JSON: {error}", "MALFORMED_JSON"
            ) from None
        return map_body(
            found["type"],
            found["mapping"],
            document,
            known={"": [f.slug for f in entity_type.fields]},
        )

    # -- activity ---------------------------------------------------------------------------

    async def activity(
        self, workspace: str, collection: str, key: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        """Newest first: an integration's requests, or a project or client token's."""
        limit = paging.page_size(page_size)
        tokens = PageTokens("externalActivityEntries", workspace, collection, key)
        cursor = tokens.decode(page_token, 1)
        before = paging.as_int(cursor[0]) if cursor else None
        params: dict[str, Any] = {"integration_id": None, "key_id": None, "routes": None}
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            if collection == "integrations":
                params["integration_id"] = (await self._integration(conn, workspace_id, key))["id"]
            elif collection == "projectTokens":
                await self._project_token(conn, workspace_id, key)
                params.update(key_id=key, routes=["data_ingestion", "status", "ping"])
            else:
                await self._client_token(conn, workspace_id, key)
                params.update(key_id=key, routes=["form"])
            found = await repo.rows(
                conn, "list_external_activity", before=before, limit=limit + 1, **params
            )
        return tokens.page(found, limit, lambda r: (r["id"],))


_UPDATABLE = (
    "display_name",
    "type",
    "enabled",
    "default_region",
    "mapping",
    "max_body_bytes",
    "rate_limit",
    "rate_window_seconds",
)


def _stored(row: dict[str, Any], name: str) -> Any:
    return row[name]
