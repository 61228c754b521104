"""The inbox's requests: Inbox (accepting and applying mixed in) and a request's status."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_store import repository as repo
from inlet_store.domain import Outcome
from inlet_store.errors import wrap_exceptions
from inlet_store.inbox.accepting import authenticate
from inlet_store.inbox.accepting_many import AcceptingMany
from inlet_store.inbox.applying import Applying
from inlet_store.inbox.claims import Claims, SqlClaims
from inlet_store.inbox.types import ItemOutcome, RequestStatus
from inlet_store.inbox.waiting import Wakeups
from inlet_store.service import Store
from inlet_store.streams import RequestNotFound


class Inbox(AcceptingMany, Applying):
    """Use cases of stream ingest over one pool: accepting (inbox.accepting_many), claiming
    (inbox.claims), applying (inbox.applying) and a request's status."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        store: Store,
        *,
        idempotency_ttl_seconds: int = 86400,
        wakeups: Wakeups | None = None,
    ) -> None:
        self.pool = pool
        self.store = store
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        # Accepts that arrive together are stored together (one commit).
        self._start_accepting()
        # Claiming, long-polled: `wakeups` is what the store's LISTEN connection wakes.
        self.claims = Claims(SqlClaims(pool), wakeups)

    async def status(self, *, ingest_key: str, request_id: str) -> RequestStatus:
        async with wrap_exceptions(), self.pool.connection() as conn:
            key = await authenticate(conn, ingest_key)
            found = await repo.row(
                conn, "stream_request_status", id=request_id, stream_id=key.stream_id
            )
            if found is None:
                raise RequestNotFound(f"no request {request_id!r} on stream {key.stream!r}")
            items = await item_outcomes(conn, request_id)
        return RequestStatus(
            request_id=found["id"],
            stream=found["stream"],
            status=found["status"],
            items_received=found["items_received"],
            items_processed=found["items_processed"],
            items_failed=sum(1 for i in items if i.action == "failed"),
            create_time=found["create_time"],
            finish_time=found["finish_time"],
            items=items,
        )


async def item_outcomes(conn: repo.Conn, request_id: str) -> list[ItemOutcome]:
    """A request's item outcomes, in index order (a superseded item with its winner's record)."""
    return [
        ItemOutcome(
            index=r["item_index"],
            action=r["action"],
            record_id=str(r["record_id"]) if r["record_id"] else "",
            matched_on=tuple(r["matched_on"]),
            error=r["error"],
            superseded_by=r["superseded_by"],
            related={
                slug: Outcome(o["id"], o["action"], tuple(o.get("matched_on", ())))
                for slug, o in (r["related"] or {}).items()
            },
        )
        for r in await repo.rows(conn, "stream_request_items", id=request_id)
    ]
