"""Read keys (rk_<id>_<secret>): a stream's read-only credential, created, listed and
revoked like its ingest keys; only SHA-256(secret) is stored, compared in constant time."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet.admin.v1 import streams_pb2
from inlet_common.admin import paging
from inlet_common.admin.timestamps import timestamp
from inlet_common.errors import NotFound
from inlet_store import external_tokens
from inlet_store import repository as repo
from inlet_store.errors import wrap_exceptions

KIND = "rk"


def parse(text: str) -> external_tokens.ParsedToken | None:
    """rk_<id>_<secret> → its parts; None when it does not have that shape."""
    return external_tokens.parse_token(KIND, text)


class ReadKeys:
    """Use cases over one pool; `stream` finds a stream (raising NOT_FOUND) on a connection."""

    def __init__(self, pool: AsyncConnectionPool[Any], stream: Any) -> None:
        self.pool = pool
        self._stream = stream

    async def create(
        self, workspace: str, stream: str, display_name: str
    ) -> tuple[dict[str, Any], str]:
        fresh = external_tokens.new_token(KIND)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await self._stream(conn, workspace, stream)
            created = await repo.row(
                conn,
                "insert_read_key",
                id=fresh.key_id,
                stream_id=found["id"],
                display_name=display_name,
                secret_hash=fresh.secret_hash,
            )
        assert created is not None
        return created, fresh.full

    async def list(
        self, workspace: str, stream: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        limit = paging.page_size(page_size)
        tokens = paging.PageTokens("readKeys", workspace, stream)
        cursor = tokens.decode(page_token, 1)
        before = paging.as_time(cursor[0]) if cursor else None
        async with wrap_exceptions(), self.pool.connection() as conn:
            found_stream = await self._stream(conn, workspace, stream)
            found = await repo.rows(
                conn, "list_read_keys", stream_id=found_stream["id"], before=before, limit=limit + 1
            )
        return tokens.page(found, limit, lambda k: [k["create_time"]])

    async def revoke(self, workspace: str, stream: str, key_id: str) -> dict[str, Any]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            found_stream = await self._stream(conn, workspace, stream)
            found = await repo.row(conn, "revoke_read_key", id=key_id, stream_id=found_stream["id"])
        if found is None:
            raise NotFound(f"no read key {key_id!r} on stream {stream!r}")
        return found


def read_key_pb(workspace_id: str, stream: str, k: dict[str, Any]) -> streams_pb2.ReadKey:
    return streams_pb2.ReadKey(
        name=f"workspaces/{workspace_id}/streams/{stream}/readKeys/{k['id']}",
        display_name=k["display_name"],
        create_time=timestamp(k["create_time"]),
        revoke_time=timestamp(k["revoke_time"]),
        prefix=external_tokens.prefix(KIND, k["id"]),
    )
