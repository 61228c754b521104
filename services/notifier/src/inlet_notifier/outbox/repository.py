"""Where the outbox consumer takes events from: the port, and its SQL adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from inlet_common.sqlfiles import NamedQueries
from inlet_notifier.errors import wrap_exceptions

_QUERIES = NamedQueries("inlet_notifier.outbox", "sql")


@dataclass(frozen=True)
class Taken:
    """One batch taken: how many events left the outbox, and the deliveries they made."""

    events: int
    deliveries: int


class OutboxRepository(Protocol):
    async def take(self, limit: int) -> Taken:
        """Move up to `limit` of the oldest events into webhook events and deliveries,
        atomically; Taken(0, 0) when the outbox is empty (or all of it is being taken)."""
        ...


async def take_batch(conn: AsyncConnection[Any], limit: int) -> Taken:
    """The one statement that takes a batch, on `conn` (in the caller's transaction, if any)."""
    found = await _QUERIES.row(conn, "take_outbox_events", limit=limit)
    assert found is not None
    return Taken(int(found["taken"]), int(found["deliveries"]))


class SqlOutbox:
    """OutboxRepository over the shared database: one statement per batch."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def take(self, limit: int) -> Taken:
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await take_batch(conn, limit)
