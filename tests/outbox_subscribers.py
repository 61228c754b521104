"""A workspace's events reach the outbox only while an endpoint could take them: tests that
read the outbox give the workspace one that takes nothing (its one event type never occurs)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

# The secret column holds sealed text; nothing is ever signed for this endpoint.
_SUBSCRIBE = (
    "INSERT INTO webhook_endpoints (workspace_id, url, secret, event_types)"
    " VALUES (%s, 'https://subscriber.invalid/', 'unused', ARRAY['test.never'])"
)


async def subscribe(
    where: AsyncConnectionPool[Any] | psycopg.AsyncConnection[Any], workspace_id: str
) -> None:
    """Make `workspace_id`'s events go into the outbox (no delivery is made of them)."""
    if isinstance(where, psycopg.AsyncConnection):
        await where.execute(_SUBSCRIBE, (workspace_id,))
        return
    async with where.connection() as conn:
        await conn.execute(_SUBSCRIBE, (workspace_id,))
