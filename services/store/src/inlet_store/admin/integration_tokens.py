"""Integration ingest's credentials: project tokens (create, list, revoke, rotate with a
grace period) and the form's client tokens (create, list, update, revoke)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from psycopg_pool import AsyncConnectionPool

from inlet_common.admin import paging
from inlet_common.errors import InvalidArgument, Violation
from inlet_store import guards
from inlet_store import repository as repo
from inlet_store.admin.credentials import CLIENT_TOKEN, PROJECT_TOKEN, Credentials
from inlet_store.admin.workspaces import workspace_id
from inlet_store.domain import EntityTypeDef
from inlet_store.errors import wrap_exceptions
from inlet_store.external_tokens import CLIENT, PROJECT, new_token

# A form is one person at a time: a lower default than a server's.
FORM_RATE_LIMIT = 60
ANY_ORIGIN = "*"
_PROJECT_TOKENS = Credentials(PROJECT_TOKEN)
_CLIENT_TOKENS = Credentials(CLIENT_TOKEN)
REGION = re.compile(r"^([A-Z]{2})?$")
REGION_TEXT = "default_region must be two upper-case letters (ISO 3166) or empty"


def bad(field: str, message: str, code: str) -> InvalidArgument:
    """INVALID_ARGUMENT whose message names the field (a one-line error says where)."""
    text = message if field in message else f"{field}: {message}"
    return InvalidArgument(text, violations=[Violation(field, message, code)])


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
        raise bad(
            field,
            f"{origin!r} is not an origin: write scheme://host[:port], e.g."
            " https://www.example.com (or * for any)",
            "INVALID_ORIGIN",
        )
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


class IntegrationTokens:
    """Use cases over one pool."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def _workspace_id(self, conn: repo.Conn, key: str) -> str:
        return await workspace_id(conn, key)

    async def _entity_type(
        self, conn: repo.Conn, workspace_id: str, slug: str, field: str
    ) -> EntityTypeDef:
        found = await repo.row(conn, "entity_type_by_slug", workspace_id=workspace_id, key=slug)
        if found is None or not slug:
            raise bad(
                field,
                f"no entity type {slug!r} in the workspace" if slug else f"{field} is required",
                "UNKNOWN_ENTITY_TYPE" if slug else "REQUIRED",
            )
        type_id = str(found["id"])
        return (await repo.entity_types(conn, [type_id]))[type_id]

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
        tokens = _PROJECT_TOKENS.page_tokens(workspace)
        cursor = tokens.decode(page_token, 1)
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            page, token = await _PROJECT_TOKENS.page(conn, workspace_id, tokens, limit, cursor)
        return workspace_id, page, token

    async def revoke_project_token(self, workspace: str, token_id: str) -> dict[str, Any]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            return await _PROJECT_TOKENS.revoke(conn, workspace_id, token_id)

    async def rotate_project_token(
        self, workspace: str, token_id: str, grace_seconds: float
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """(the new token, its secret, the old token with its expiry)."""
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            workspace_id = await self._workspace_id(conn, workspace)

            async def like(conn: repo.Conn, old: dict[str, Any]) -> tuple[dict[str, Any], str]:
                return await self._insert_project_token(conn, workspace_id, old["display_name"])

            return await _PROJECT_TOKENS.rotate(
                conn, workspace_id, token_id, grace_seconds, "grace_period", like
            )

    # -- client tokens ----------------------------------------------------------------------

    async def create_client_token(
        self, workspace: str, values: ClientTokenValues
    ) -> tuple[str, dict[str, Any], str]:
        """(workspace id, the token, its whole secret: shown once)."""
        if not REGION.match(values.default_region):
            raise bad("client_token.default_region", REGION_TEXT, "INVALID_REGION")
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
                raise bad(
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
    async def _project_token(conn: repo.Conn, workspace_id: str, token_id: str) -> dict[str, Any]:
        return await _PROJECT_TOKENS.get(conn, workspace_id, token_id)

    @staticmethod
    async def _client_token(conn: repo.Conn, workspace_id: str, token_id: str) -> dict[str, Any]:
        return await _CLIENT_TOKENS.get(conn, workspace_id, token_id)

    async def list_client_tokens(
        self, workspace: str, page_size: int, page_token: str
    ) -> tuple[str, list[dict[str, Any]], str]:
        limit = paging.page_size(page_size)
        tokens = _CLIENT_TOKENS.page_tokens(workspace)
        cursor = tokens.decode(page_token, 1)
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            page, token = await _CLIENT_TOKENS.page(conn, workspace_id, tokens, limit, cursor)
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
                raise CLIENT_TOKEN.not_found(token_id)
            return workspace_id, await self._client_token(conn, workspace_id, token_id)

    async def revoke_client_token(
        self, workspace: str, token_id: str
    ) -> tuple[str, dict[str, Any]]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            await _CLIENT_TOKENS.revoke(conn, workspace_id, token_id)
            return workspace_id, await self._client_token(conn, workspace_id, token_id)


def _origins(given: Collection[str]) -> tuple[str, ...]:
    if not given:
        raise bad(
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
