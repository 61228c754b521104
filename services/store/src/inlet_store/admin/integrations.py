"""Integration ingest's admin use cases: project tokens (create, list, revoke, rotate with
grace), integrations and their mappings, client tokens of the form, and the activity log
of the external API."""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from psycopg_pool import AsyncConnectionPool

from inlet_common import exactjson, mappings
from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import FailedPrecondition, InvalidArgument, NotFound, Violation
from inlet_common.integration_bodies import MappedBody, map_body
from inlet_store import guards
from inlet_store import repository as repo
from inlet_store.domain import EntityTypeDef
from inlet_store.errors import wrap_exceptions
from inlet_store.external_tokens import CLIENT, PROJECT, new_token

_INTEGRATION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_REGION = re.compile(r"^([A-Z]{2})?$")
MAX_BODY_BYTES = 1024 * 1024
MAX_GRACE_SECONDS = 7 * 86400
# A form is one person at a time: a lower default than a server's.
FORM_RATE_LIMIT = 60
ANY_ORIGIN = "*"


class IntegrationNotFound(NotFound):
    reason = "INTEGRATION_NOT_FOUND"


def _bad(field: str, message: str, code: str) -> InvalidArgument:
    """INVALID_ARGUMENT whose message names the field (a one-line error says where)."""
    text = message if field in message else f"{field}: {message}"
    return InvalidArgument(text, violations=[Violation(field, message, code)])


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


@dataclass(frozen=True)
class ClientTokenValues:
    display_name: str = ""
    entity_type: str = ""
    default_region: str = ""
    allowed_origins: tuple[str, ...] = ()
    rate_limit: int = 0
    rate_window_seconds: int = 0


def check_origin(origin: str, field: str) -> str:
    """An allowed origin as stored: "*", or scheme://host[:port] in lower case."""
    if origin == ANY_ORIGIN:
        return origin
    parts = urlsplit(origin.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise _bad(
            field,
            f"{origin!r} is not an origin: write scheme://host[:port], e.g."
            " https://www.example.com (or * for any)",
            "INVALID_ORIGIN",
        )
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


class IntegrationAdmin:
    """Use cases over one pool."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def _workspace_id(self, conn: repo.Conn, key: str) -> str:
        found = await repo.row(conn, "workspace_by_key", key=key)
        if found is None:
            raise NotFound(f"no workspace {key!r}", reason="WORKSPACE_NOT_FOUND")
        return str(found["id"])

    # -- project tokens ---------------------------------------------------------------------

    async def create_project_token(
        self, workspace: str, display_name: str
    ) -> tuple[str, dict[str, Any], str]:
        """(workspace id, the token, its whole secret: shown once)."""
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            created, secret = await self._insert_project_token(conn, workspace_id, display_name)
        return workspace_id, created, secret

    @staticmethod
    async def _insert_project_token(
        conn: repo.Conn, workspace_id: str, display_name: str
    ) -> tuple[dict[str, Any], str]:
        fresh = new_token(PROJECT)
        created = await repo.row(
            conn,
            "insert_project_token",
            id=fresh.key_id,
            workspace_id=workspace_id,
            display_name=display_name,
            secret_hash=fresh.secret_hash,
        )
        assert created is not None
        return created, fresh.full

    async def list_project_tokens(
        self, workspace: str, page_size: int, page_token: str
    ) -> tuple[str, list[dict[str, Any]], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("projectTokens", workspace)
        cursor = tokens.decode(page_token, 1)
        before = paging.as_time(cursor[0]) if cursor else None
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            found = await repo.rows(
                conn,
                "list_project_tokens",
                workspace_id=workspace_id,
                before=before,
                limit=limit + 1,
            )
        page, token = tokens.page(found, limit, lambda r: (r["create_time"],))
        return workspace_id, page, token

    async def revoke_project_token(self, workspace: str, token_id: str) -> dict[str, Any]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            found = await repo.row(
                conn, "revoke_project_token", id=token_id, workspace_id=workspace_id
            )
        if found is None:
            raise NotFound(f"no project token {token_id!r}", reason="PROJECT_TOKEN_NOT_FOUND")
        return found

    async def rotate_project_token(
        self, workspace: str, token_id: str, grace_seconds: float
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """(the new token, its secret, the old token with its expiry)."""
        if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
            raise _bad(
                "grace_period",
                f"grace_period must be between 0 and 7 days, got {grace_seconds:g}s",
                "OUT_OF_RANGE",
            )
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            workspace_id = await self._workspace_id(conn, workspace)
            old = await repo.row(conn, "get_project_token", id=token_id, workspace_id=workspace_id)
            if old is None:
                raise NotFound(f"no project token {token_id!r}", reason="PROJECT_TOKEN_NOT_FOUND")
            if old["revoke_time"] is not None:
                raise FailedPrecondition(
                    f"project token {token_id} is revoked; create a new one",
                    reason="PROJECT_TOKEN_REVOKED",
                )
            previous = await repo.row(
                conn,
                "expire_project_token",
                id=token_id,
                workspace_id=workspace_id,
                grace_seconds=grace_seconds,
            )
            assert previous is not None
            created, secret = await self._insert_project_token(
                conn, workspace_id, old["display_name"]
            )
        return created, secret, previous

    # -- integrations -----------------------------------------------------------------------

    async def _entity_type(
        self, conn: repo.Conn, workspace_id: str, slug: str, field: str
    ) -> EntityTypeDef:
        found = await repo.row(conn, "entity_type_by_slug", workspace_id=workspace_id, key=slug)
        if found is None or not slug:
            raise _bad(
                field,
                f"no entity type {slug!r} in the workspace" if slug else f"{field} is required",
                "UNKNOWN_ENTITY_TYPE" if slug else "REQUIRED",
            )
        type_id = str(found["id"])
        return (await repo.entity_types(conn, [type_id]))[type_id]

    async def _check_integration(
        self, conn: repo.Conn, workspace_id: str, values: IntegrationValues
    ) -> EntityTypeDef:
        """The entity type, once every value is checked; InvalidArgument naming each bad one."""
        if not values.type:
            raise _bad(
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
        if not _REGION.match(values.default_region):
            raise _bad(
                "integration.default_region",
                "default_region must be two upper-case letters (ISO 3166) or empty",
                "INVALID_REGION",
            )
        if not 1 <= values.max_body_bytes <= MAX_BODY_BYTES:
            raise _bad(
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
                raise _bad(
                    where,
                    "a GENERIC integration takes the body's keys as field slugs and has no"
                    " mapping; use type MAPPING to map fields",
                    "NOT_ALLOWED",
                )
            return
        if values.mapping is None:
            if values.type == mappings.MAPPING:
                raise _bad(where, "a MAPPING integration needs a mapping", "REQUIRED")
            return
        parsed = mappings.parse(values.mapping, where)
        referenced_ids = {
            f.slug: f.reference_entity_type_id
            for f in entity_type.fields
            if f.reference_entity_type_id
        }
        referenced = await repo.entity_types(conn, sorted(set(referenced_ids.values())))
        problems = mappings.check(
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
            raise mappings.invalid_mapping(problems)

    async def create_integration(
        self, workspace: str, integration_id: str, values: IntegrationValues
    ) -> dict[str, Any]:
        slug = integration_id or f"int_{secrets.token_hex(6)}"
        if not _INTEGRATION_ID.match(slug):
            raise _bad(
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
            raise _bad(
                "sample", f"the sample is not valid JSON: {error}", "MALFORMED_JSON"
            ) from None
        return map_body(
            found["type"],
            found["mapping"],
            document,
            known={"": [f.slug for f in entity_type.fields]},
        )

    # -- client tokens ----------------------------------------------------------------------

    async def create_client_token(
        self, workspace: str, values: ClientTokenValues
    ) -> tuple[str, dict[str, Any], str]:
        """(workspace id, the token, its whole secret: shown once)."""
        if not _REGION.match(values.default_region):
            raise _bad(
                "client_token.default_region",
                "default_region must be two upper-case letters (ISO 3166) or empty",
                "INVALID_REGION",
            )
        origins = _origins(values.allowed_origins)
        guards.check_rate_settings(
            "client_token", values.rate_limit or None, values.rate_window_seconds or None
        )
        fresh = new_token(CLIENT)
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            workspace_id = await self._workspace_id(conn, workspace)
            entity_type = await self._entity_type(
                conn, workspace_id, values.entity_type, "client_token.entity_type"
            )
            email = next((f for f in entity_type.fields if f.slug == "email"), None)
            if email is None or email.type != "email" or not email.unique:
                raise _bad(
                    "client_token.entity_type",
                    f"a form matches people on e-mail: entity type {entity_type.slug!r} needs"
                    " a unique field `email` of type email",
                    "NO_EMAIL_FIELD",
                )
            await repo.row(
                conn,
                "insert_client_token",
                id=fresh.key_id,
                workspace_id=workspace_id,
                entity_type_id=entity_type.id,
                display_name=values.display_name,
                default_region=values.default_region,
                allowed_origins=list(origins),
                secret_hash=fresh.secret_hash,
                rate_limit=values.rate_limit or FORM_RATE_LIMIT,
                rate_window_seconds=values.rate_window_seconds or guards.DEFAULT_RATE_WINDOW,
            )
            found = await self._client_token(conn, workspace_id, fresh.key_id)
        return workspace_id, found, fresh.full

    @staticmethod
    async def _client_token(conn: repo.Conn, workspace_id: str, token_id: str) -> dict[str, Any]:
        found = await repo.row(conn, "get_client_token", id=token_id, workspace_id=workspace_id)
        if found is None:
            raise NotFound(f"no client token {token_id!r}", reason="CLIENT_TOKEN_NOT_FOUND")
        return found

    async def list_client_tokens(
        self, workspace: str, page_size: int, page_token: str
    ) -> tuple[str, list[dict[str, Any]], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("clientTokens", workspace)
        cursor = tokens.decode(page_token, 1)
        before = paging.as_time(cursor[0]) if cursor else None
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            found = await repo.rows(
                conn,
                "list_client_tokens",
                workspace_id=workspace_id,
                before=before,
                limit=limit + 1,
            )
        page, token = tokens.page(found, limit, lambda r: (r["create_time"],))
        return workspace_id, page, token

    async def update_client_token(
        self, workspace: str, token_id: str, values: ClientTokenValues, mask: Collection[str]
    ) -> tuple[str, dict[str, Any]]:
        origins = _origins(values.allowed_origins) if "allowed_origins" in mask else None
        guards.check_rate_settings(
            "client_token",
            values.rate_limit if "rate_limit" in mask else None,
            values.rate_window_seconds if "rate_window_seconds" in mask else None,
        )
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            changed = await repo.row(
                conn,
                "update_client_token",
                id=token_id,
                workspace_id=workspace_id,
                display_name=values.display_name if "display_name" in mask else None,
                allowed_origins=list(origins) if origins is not None else None,
                rate_limit=values.rate_limit if "rate_limit" in mask else None,
                rate_window_seconds=(
                    values.rate_window_seconds if "rate_window_seconds" in mask else None
                ),
            )
            if changed is None:
                raise NotFound(f"no client token {token_id!r}", reason="CLIENT_TOKEN_NOT_FOUND")
            return workspace_id, await self._client_token(conn, workspace_id, token_id)

    async def revoke_client_token(
        self, workspace: str, token_id: str
    ) -> tuple[str, dict[str, Any]]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            if (
                await repo.row(conn, "revoke_client_token", id=token_id, workspace_id=workspace_id)
                is None
            ):
                raise NotFound(f"no client token {token_id!r}", reason="CLIENT_TOKEN_NOT_FOUND")
            return workspace_id, await self._client_token(conn, workspace_id, token_id)

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
                if (
                    await repo.row(conn, "get_project_token", id=key, workspace_id=workspace_id)
                    is None
                ):
                    raise NotFound(f"no project token {key!r}", reason="PROJECT_TOKEN_NOT_FOUND")
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


def _origins(given: Collection[str]) -> tuple[str, ...]:
    if not given:
        raise _bad(
            "client_token.allowed_origins",
            "allowed_origins needs the origins of the pages that use the token (or * for any)",
            "REQUIRED",
        )
    checked: list[str] = []
    for index, origin in enumerate(given):
        normalised = check_origin(origin, f"client_token.allowed_origins[{index}]")
        if normalised not in checked:
            checked.append(normalised)
    return tuple(checked)
