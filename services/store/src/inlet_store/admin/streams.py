"""StreamAdmin: a workspace's streams, ingest keys, read keys and connector log."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet.admin.v1 import streams_pb2
from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import InvalidArgument, NotFound, Violation
from inlet_store import guards
from inlet_store import repository as repo
from inlet_store.admin.credentials import INGEST_KEY, Credentials
from inlet_store.admin.workspaces import workspace_id
from inlet_store.errors import wrap_exceptions
from inlet_store.read_keys import ReadKeys
from inlet_store.streams import new_key

_SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_REGION = re.compile(r"^([A-Z]{2})?$")
_MODES = {
    streams_pb2.INGEST_KEY_MODE_UNSPECIFIED: "live",
    streams_pb2.INGEST_KEY_MODE_LIVE: "live",
    streams_pb2.INGEST_KEY_MODE_TEST: "test",
}
_KEYS = Credentials(INGEST_KEY)


def _bad(field: str, message: str, code: str) -> InvalidArgument:
    return InvalidArgument(message, violations=[Violation(field, message, code)])


class StreamAdmin:
    """Use cases over one pool."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self.read_keys = ReadKeys(pool, self._stream)

    async def _workspace_id(self, conn: repo.Conn, key: str) -> str:
        return await workspace_id(conn, key)

    async def _stream(self, conn: repo.Conn, workspace: str, slug: str) -> dict[str, Any]:
        workspace_id = await self._workspace_id(conn, workspace)
        found = await repo.row(conn, "get_stream", workspace_id=workspace_id, slug=slug)
        if found is None:
            raise NotFound(
                f"no stream {slug!r} in workspace {workspace!r}", reason="STREAM_NOT_FOUND"
            )
        return found

    async def create_stream(
        self, workspace: str, slug: str, stream: streams_pb2.Stream
    ) -> dict[str, Any]:
        if not _SLUG.match(slug):
            raise _bad("stream_id", f"stream_id must match {_SLUG.pattern}", "INVALID_SLUG")
        if not _REGION.match(stream.default_region):
            raise _bad(
                "stream.default_region",
                "default_region must be two upper-case letters (ISO 3166) or empty",
                "INVALID_REGION",
            )
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            created = await repo.row(
                conn,
                "insert_stream",
                workspace_id=workspace_id,
                slug=slug,
                display_name=stream.display_name or slug,
                entity_type=stream.entity_type,
                default_region=stream.default_region,
            )
        if created is None:
            raise _bad(
                "stream.entity_type",
                f"no entity type {stream.entity_type!r} in the workspace",
                "UNKNOWN_ENTITY_TYPE",
            )
        return {**created, "workspace_id": workspace_id}

    async def get_stream(self, workspace: str, slug: str) -> dict[str, Any]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await self._stream(conn, workspace, slug)

    async def list_streams(
        self, workspace: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("streams", workspace)
        cursor = tokens.decode(page_token, 1)
        after = paging.as_text(cursor[0]) if cursor else ""
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            found = await repo.rows(
                conn, "list_streams", workspace_id=workspace_id, after=after, limit=limit + 1
            )
        return tokens.page(found, limit, lambda r: (r["slug"],))

    async def create_key(
        self, workspace: str, stream: str, key: streams_pb2.IngestKey
    ) -> tuple[dict[str, Any], str]:
        mode = _MODES.get(key.mode)
        if mode is None:
            raise _bad("ingest_key.mode", "mode must be LIVE or TEST", "INVALID_MODE")
        # 0 (unset) takes the default.
        guards.check_rate_settings(
            "ingest_key", key.rate_limit or None, key.rate_window_seconds or None
        )
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await self._stream(conn, workspace, stream)
            return await self._insert_key(
                conn,
                str(found["id"]),
                mode,
                key.display_name,
                key.rate_limit or guards.DEFAULT_RATE_LIMIT,
                key.rate_window_seconds or guards.DEFAULT_RATE_WINDOW,
            )

    @staticmethod
    async def _insert_key(
        conn: repo.Conn, stream_id: str, mode: str, display_name: str, limit: int, window: int
    ) -> tuple[dict[str, Any], str]:
        fresh = new_key(mode)
        created = await repo.row(
            conn,
            "insert_ingest_key",
            id=fresh.key_id,
            stream_id=stream_id,
            mode=mode,
            display_name=display_name,
            secret_hash=fresh.secret_hash,
            rate_limit=limit,
            rate_window_seconds=window,
        )
        assert created is not None
        return created, fresh.full

    async def list_keys(
        self, workspace: str, stream: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        limit = paging.page_size(page_size)
        tokens = _KEYS.page_tokens(workspace, stream)
        cursor = tokens.decode(page_token, 1)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found_stream = await self._stream(conn, workspace, stream)
            return await _KEYS.page(conn, str(found_stream["id"]), tokens, limit, cursor)

    async def _key_query(
        self, query: str, workspace: str, stream: str, key_id: str, **params: Any
    ) -> dict[str, Any]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            found_stream = await self._stream(conn, workspace, stream)
            found = await repo.row(conn, query, id=key_id, stream_id=found_stream["id"], **params)
        if found is None:
            raise INGEST_KEY.not_found(key_id)
        return found

    async def update_key(
        self,
        workspace: str,
        stream: str,
        key_id: str,
        key: streams_pb2.IngestKey,
        mask: Collection[str],
    ) -> dict[str, Any]:
        guards.check_rate_settings(
            "ingest_key",
            key.rate_limit if "rate_limit" in mask else None,
            key.rate_window_seconds if "rate_window_seconds" in mask else None,
        )
        return await self._key_query(
            "update_ingest_key",
            workspace,
            stream,
            key_id,
            display_name=key.display_name if "display_name" in mask else None,
            rate_limit=key.rate_limit if "rate_limit" in mask else None,
            rate_window_seconds=key.rate_window_seconds if "rate_window_seconds" in mask else None,
        )

    async def revoke_key(self, workspace: str, stream: str, key_id: str) -> dict[str, Any]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            found_stream = await self._stream(conn, workspace, stream)
            return await _KEYS.revoke(conn, str(found_stream["id"]), key_id)

    async def rotate_key(
        self, workspace: str, stream: str, key_id: str, grace_seconds: int
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            stream_id = str((await self._stream(conn, workspace, stream))["id"])

            async def like(conn: repo.Conn, old: dict[str, Any]) -> tuple[dict[str, Any], str]:
                return await self._insert_key(
                    conn,
                    stream_id,
                    old["mode"],
                    old["display_name"],
                    old["rate_limit"],
                    old["rate_window_seconds"],
                )

            return await _KEYS.rotate(conn, stream_id, key_id, grace_seconds, "grace_seconds", like)

    async def connector_log(
        self, workspace: str, stream: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("connectorLogEntries", workspace, stream)
        cursor = tokens.decode(page_token, 1)
        before = paging.as_int(cursor[0]) if cursor else None
        async with wrap_exceptions(), self.pool.connection() as conn:
            found_stream = await self._stream(conn, workspace, stream)
            found = await repo.rows(
                conn,
                "list_connector_log",
                stream_id=found_stream["id"],
                before=before,
                limit=limit + 1,
            )
        return tokens.page(found, limit, lambda r: (r["id"],))
