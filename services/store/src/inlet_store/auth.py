"""Admin API credentials: a workspace's admin tokens, and the installation's bootstrap token."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common.credentials import bearer_token, token_hash
from inlet_common.edge import EDGE_ERROR_KEY, EDGE_MESSAGE_KEY
from inlet_common.errors import InvalidArgument
from inlet_store import names
from inlet_store import repository as repo
from inlet_store.errors import PermissionDenied, Unauthenticated, wrap_exceptions


def bearer(metadata: Iterable[tuple[str, Any]] | None) -> str:
    """The token of the `authorization: Bearer …` metadata; UNAUTHENTICATED otherwise."""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            return bearer_token(value.decode() if isinstance(value, bytes) else str(value))
    return bearer_token(None)


class Authenticator:
    """Checks admin credentials; error messages never repeat the token."""

    def __init__(self, pool: AsyncConnectionPool[Any], bootstrap_token: str | None) -> None:
        self.pool = pool
        # Only the hash is kept in memory too, compared in constant time.
        self._bootstrap_hash = token_hash(bootstrap_token) if bootstrap_token else None

    def bootstrap(self, metadata: Iterable[tuple[str, Any]] | None) -> None:
        """Allow installation-level calls (creating workspaces and their admin tokens)."""
        presented = token_hash(bearer(metadata))
        if self._bootstrap_hash is None:
            raise PermissionDenied(
                "this installation has no bootstrap token (INLET_ADMIN_BOOTSTRAP_TOKEN)",
                reason="BOOTSTRAP_DISABLED",
            )
        if not hmac.compare_digest(presented, self._bootstrap_hash):
            raise Unauthenticated("the bootstrap token is not valid", reason="ADMIN_TOKEN_INVALID")

    async def workspace(self, metadata: Iterable[tuple[str, Any]] | None, key: str) -> None:
        """Allow calls on workspace `key` (id or slug) to that workspace's admin tokens."""
        presented = token_hash(bearer(metadata))
        async with wrap_exceptions(), self.pool.connection() as conn:
            # The hash is an index probe: the token is 256 random bits, so its hash
            # reveals nothing to timing (the same reasoning as endpoint tokens).
            found = await repo.row(conn, "admin_token_workspace", token_hash=presented)
        if found is None:
            raise Unauthenticated("the admin token is not valid", reason="ADMIN_TOKEN_INVALID")
        if key not in (str(found["workspace_id"]), found["slug"]):
            raise PermissionDenied(
                f"the admin token does not grant access to workspace {key!r}",
                reason="WRONG_WORKSPACE",
            )


class WorkspaceScoped:
    """For servicers of a workspace's resources: the call's admin token must be the
    workspace's, and a request whose body the edge refused acts on nothing."""

    auth: Authenticator

    async def _authorised(
        self, context: Any, field: str, name: str, *collections: str
    ) -> list[str]:
        parts = names.parts(field, name, *collections)
        metadata = dict(context.invocation_metadata() or ())
        await self.auth.workspace(context.invocation_metadata(), parts[0])
        edge = metadata.get(EDGE_ERROR_KEY)
        if edge:
            # The gateway refused the body and shows us only the URL: act on nothing.
            raise InvalidArgument(str(metadata.get(EDGE_MESSAGE_KEY) or edge), reason=str(edge))
        return parts
