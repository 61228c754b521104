"""Push transfer's workspace API keys: create, list, revoke, rotate with a grace period."""

from __future__ import annotations

from typing import Any

from inlet_common.admin import paging
from inlet_store import apikeys, guards
from inlet_store import repository as repo
from inlet_store.admin.credentials import API_KEY, Credentials
from inlet_store.admin.workspaces import workspace_id
from inlet_store.errors import wrap_exceptions

_KEYS = Credentials(API_KEY)


class ApiKeys:
    """Use cases over one pool."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def _workspace_id(self, conn: repo.Conn, key: str) -> str:
        return await workspace_id(conn, key)

    async def create_key(
        self, workspace: str, display_name: str, rate_limit: int, window: int
    ) -> tuple[str, dict[str, Any], str]:
        guards.check_rate_settings("api_key", rate_limit or None, window or None)
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            created, secret = await _insert_key(
                conn,
                workspace_id,
                display_name,
                rate_limit or guards.DEFAULT_RATE_LIMIT,
                window or guards.DEFAULT_RATE_WINDOW,
            )
        return workspace_id, created, secret

    async def list_keys(
        self, workspace: str, page_size: int, page_token: str
    ) -> tuple[str, list[dict[str, Any]], str]:
        limit = paging.page_size(page_size)
        tokens = _KEYS.page_tokens(workspace)
        cursor = tokens.decode(page_token, 1)
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            page, token = await _KEYS.page(conn, workspace_id, tokens, limit, cursor)
        return workspace_id, page, token

    async def revoke_key(self, workspace: str, key_id: str) -> tuple[str, dict[str, Any]]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            return workspace_id, await _KEYS.revoke(conn, workspace_id, key_id)

    async def rotate_key(
        self, workspace: str, key_id: str, grace_seconds: int
    ) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            workspace_id = await self._workspace_id(conn, workspace)

            async def like(conn: repo.Conn, old: dict[str, Any]) -> tuple[dict[str, Any], str]:
                return await _insert_key(
                    conn,
                    workspace_id,
                    old["display_name"],
                    old["rate_limit"],
                    old["rate_window_seconds"],
                )

            created, secret, previous = await _KEYS.rotate(
                conn, workspace_id, key_id, grace_seconds, "grace_seconds", like
            )
        return workspace_id, created, secret, previous


async def _insert_key(
    conn: repo.Conn, workspace_id: str, display_name: str, limit: int, window: int
) -> tuple[dict[str, Any], str]:
    fresh = apikeys.new_key()
    created = await repo.row(
        conn,
        "insert_api_key",
        id=fresh.key_id,
        workspace_id=workspace_id,
        display_name=display_name,
        secret_hash=fresh.secret_hash,
        rate_limit=limit,
        rate_window_seconds=window,
    )
    assert created is not None
    return created, fresh.full
