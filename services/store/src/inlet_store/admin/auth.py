"""Admin API credentials: a workspace's admin tokens, and the installation's bootstrap token."""

from __future__ import annotations

import hmac
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common.admin.auth import Metadata, TokenWorkspace, WorkspaceAuth, bearer
from inlet_common.credentials import token_hash
from inlet_store import repository as repo
from inlet_store.errors import PermissionDenied, Unauthenticated, wrap_exceptions


class Authenticator(WorkspaceAuth):
    """Checks admin credentials against the admin_tokens table; error messages never
    repeat the token."""

    def __init__(self, pool: AsyncConnectionPool[Any], bootstrap_token: str | None) -> None:
        super().__init__(self._lookup_token)
        self.pool = pool
        # Only the hash is kept in memory too, compared in constant time.
        self._bootstrap_hash = token_hash(bootstrap_token) if bootstrap_token else None

    async def _lookup_token(self, digest: bytes) -> TokenWorkspace | None:
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.row(conn, "admin_token_workspace", token_hash=digest)
        return None if found is None else TokenWorkspace(str(found["workspace_id"]), found["slug"])

    def bootstrap(self, metadata: Metadata) -> None:
        """Allow installation-level calls (creating workspaces and their admin tokens)."""
        presented = token_hash(bearer(metadata))
        if self._bootstrap_hash is None:
            raise PermissionDenied(
                "this installation has no bootstrap token (INLET_ADMIN_BOOTSTRAP_TOKEN)",
                reason="BOOTSTRAP_DISABLED",
            )
        if not hmac.compare_digest(presented, self._bootstrap_hash):
            raise Unauthenticated("the bootstrap token is not valid", reason="ADMIN_TOKEN_INVALID")


class WorkspaceScoped:
    """For servicers of a workspace's resources: the call's admin token must be the
    workspace's, and a request whose body the edge refused acts on nothing."""

    auth: WorkspaceAuth

    async def _authorised(
        self, context: Any, field: str, name: str, *collections: str
    ) -> list[str]:
        return await self.auth.authorise(context, field, name, *collections)
