"""Admin-token authentication for WebhookService: the workspace admin tokens of the admin
API (table admin_tokens, SHA-256 hashes), checked against the shared database."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common.admin.auth import TokenWorkspace
from inlet_common.credentials import bearer_token, token_hash
from inlet_common.errors import Unauthenticated
from inlet_notifier import repository as repo
from inlet_notifier.errors import wrap_exceptions
from inlet_notifier.server import Authenticate


def authenticator(pool: AsyncConnectionPool[Any]) -> Authenticate:
    """The workspace (id and slug) of a valid admin token; Unauthenticated otherwise (never
    echoing it)."""

    async def authenticate(header: str | None) -> TokenWorkspace:
        digest = token_hash(bearer_token(header))
        async with wrap_exceptions(), pool.connection() as conn:
            found = await repo.row(conn, "admin_token_workspace", token_hash=digest)
        if found is None:
            raise Unauthenticated("the admin token is not valid", reason="ADMIN_TOKEN_INVALID")
        return TokenWorkspace(str(found["workspace_id"]), str(found["slug"]))

    return authenticate
