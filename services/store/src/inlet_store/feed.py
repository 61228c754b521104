"""Reading a stream as a connected client: who may (a read key of the stream, or a
workspace admin token), its current items, and its change log after a position.

inlet_common.errors.InletError
├── Unauthenticated ── FeedUnauthorized   (401 UNAUTHORIZED: missing, unknown or revoked
│                                          key; an ingest key)
├── PermissionDenied ── FeedForbidden     (403 FORBIDDEN: a read key of another stream)
├── NotFound ── StreamNotFound            (404 STREAM_NOT_FOUND)
└── InvalidArgument ── InvalidPayload     (400: a bad Last-Event-ID or page token)
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common.admin import paging
from inlet_common.credentials import bearer_token, token_hash
from inlet_common.errors import InletError, PermissionDenied, Unauthenticated, Violation
from inlet_store import read_keys
from inlet_store import repository as repo
from inlet_store.errors import wrap_exceptions
from inlet_store.streams import InvalidPayload, StreamNotFound

_WHAT = "read key"


@dataclass(frozen=True)
class FeedSettings:
    # Changes queued per subscription at most.
    buffer: int = 1000
    # How long a full buffer may wait for the reader before it is dropped.
    stall_seconds: float = 10.0
    # A heartbeat after this long without a change (and a check that the key still works).
    heartbeat_seconds: float = 15.0
    # How often a subscription looks at the log without a wake-up (a lost notification).
    poll_seconds: float = 5.0
    # Changes read from the log per query.
    page: int = 256


class FeedUnauthorized(Unauthenticated):
    reason = "UNAUTHORIZED"


class FeedForbidden(PermissionDenied):
    reason = "FORBIDDEN"


@dataclass(frozen=True)
class Reader:
    """An authenticated reader of one stream."""

    stream_id: str
    workspace_id: str
    stream: str
    # The read key's id; "" for an admin token.
    key_id: str


def _header(metadata: Iterable[tuple[str, Any]] | None, name: str) -> str | None:
    for key, value in metadata or ():
        if key.lower() == name:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def _bearer(metadata: Iterable[tuple[str, Any]] | None) -> str:
    try:
        return bearer_token(_header(metadata, "authorization"), what=_WHAT)
    except InletError as error:
        raise FeedUnauthorized(error.message) from None


def last_event_id(metadata: Iterable[tuple[str, Any]] | None) -> int | None:
    """The last-event-id metadata (an EventSource reconnecting sends it) as a position."""
    text = _header(metadata, "last-event-id")
    if text is None or not text.strip():
        return None
    text = text.strip()
    if not text.isdigit() or len(text) > 18:
        message = "Last-Event-ID must be a position this feed sent (a non-negative integer)"
        raise InvalidPayload(message, violations=[Violation("Last-Event-ID", message, "INVALID")])
    return int(text)


class Feed:
    """Use cases over one pool."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def authenticate(self, metadata: Iterable[tuple[str, Any]] | None, slug: str) -> Reader:
        """The reader of stream `slug` the call's credential makes; messages never repeat it."""
        token = _bearer(metadata)
        async with wrap_exceptions(), self.pool.connection() as conn:
            if token.startswith("ik_"):
                raise FeedUnauthorized(
                    "an ingest key cannot read a stream: use a read key (rk_…) of the stream"
                )
            parsed = read_keys.parse(token)
            if parsed is not None:
                found = await repo.row(conn, "read_key_auth", id=parsed.token_id)
                # Compared even when the key is unknown, so both take the same time.
                stored = found["secret_hash"] if found else b"\0" * 32
                if not hmac.compare_digest(token_hash(parsed.secret), bytes(stored)) or not found:
                    raise FeedUnauthorized("the read key is not valid (unknown or revoked)")
                workspace_id, key_id, own = str(found["workspace_id"]), parsed.token_id, found
            else:
                admin = await repo.row(conn, "admin_token_workspace", token_hash=token_hash(token))
                if admin is None:
                    raise FeedUnauthorized(f"the authorization header must carry a {_WHAT}")
                workspace_id, key_id, own = str(admin["workspace_id"]), "", None
            stream = await repo.row(conn, "workspace_stream", workspace_id=workspace_id, slug=slug)
        if stream is None:
            raise StreamNotFound(f"no stream {slug!r}")
        if own is not None and str(own["stream_id"]) != str(stream["stream_id"]):
            raise FeedForbidden(f"the read key is for stream {own['slug']!r}, not {slug!r}")
        return Reader(str(stream["stream_id"]), workspace_id, slug, key_id)

    async def key_live(self, reader: Reader) -> bool:
        if not reader.key_id:
            return True
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await repo.row(conn, "read_key_live", id=reader.key_id) is not None

    async def items(
        self, reader: Reader, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str, int]:
        """One page of current items in item-key order, its next token and the feed's head."""
        limit = paging.page_size(page_size)
        tokens = paging.PageTokens("items", reader.stream_id)
        cursor = tokens.decode(page_token, 2)
        after_key, after_record = (
            (paging.as_text(cursor[0]), paging.as_text(cursor[1])) if cursor else ("", "")
        )
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.rows(
                conn,
                "stream_items_page",
                stream_id=reader.stream_id,
                after_key=after_key,
                after_record=after_record,
                limit=limit + 1,
            )
            head = found[0]["head"] if found else await self._head(conn, reader.stream_id)
        page, token = tokens.page(found, limit, lambda r: [r["item_key"], str(r["record_id"])])
        return page, token, int(head or 0)

    async def head(self, stream_id: str) -> int:
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await self._head(conn, stream_id)

    @staticmethod
    async def _head(conn: repo.Conn, stream_id: str) -> int:
        found = await repo.row(conn, "feed_head", stream_id=stream_id)
        return int(found["head"]) if found else 0

    async def pruned(self, stream_id: str, position: int, head: int) -> bool:
        """Whether changes right after `position` were pruned by retention."""
        if position >= head:
            return False
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.row(conn, "feed_oldest", stream_id=stream_id)
        oldest = found["oldest"] if found else None
        return oldest is None or position < int(oldest) - 1

    async def after(self, stream_id: str, position: int, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` changes after `position`, in order."""
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await repo.rows(
                conn, "feed_after", stream_id=stream_id, after=position, limit=limit
            )
