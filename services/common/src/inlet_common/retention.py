"""What every retention janitor shares: the retention setting, one janitor at a time
under a session advisory lock, and the loop that runs a pass now and then every interval.

The janitors themselves (what they delete, their batches and metrics) live with the
service that owns the tables: inlet_store.retention, inlet_notifier.retention.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection

from inlet_common.config import ConfigError, Env

# Retention bounds: at least an hour, at most ten years; 0 keeps rows forever.
RETENTION_MIN_SECONDS = 3600
RETENTION_MAX_SECONDS = 10 * 365 * 86400


def retention_seconds(env: Env, key: str, default: int) -> int:
    """A retention period in seconds: 0 (keep forever) or within the bounds above."""
    value = env.integer(key, default, minimum=0, maximum=RETENTION_MAX_SECONDS)
    if 0 < value < RETENTION_MIN_SECONDS:
        raise ConfigError(
            f"{key} must be 0 (keep forever) or between {RETENTION_MIN_SECONDS} and"
            f" {RETENTION_MAX_SECONDS}, got {value}"
        )
    return value


@contextlib.asynccontextmanager
async def session_lock(conn: AsyncConnection[Any], name: str) -> AsyncIterator[bool]:
    """Try a session advisory lock, pg_try_advisory_lock(hashtext(`name`)), on `conn`;
    yield whether it was taken (another session holding it: False, at once).

    On leaving, a lock taken is released. If releasing fails (the connection broke, or the
    task was cancelled mid-statement), the connection is closed instead: that ends the
    session, which releases the lock, and the pool drops a closed connection. A session
    lock must never go back to a pool with its connection.
    """
    cur = await conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (name,))
    found = await cur.fetchone()
    if not found or not found[0]:
        yield False
        return
    try:
        yield True
    finally:
        try:
            await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))
        except BaseException:
            await conn.close()
            raise


async def run_passes(
    one_pass: Callable[[], Awaitable[object]],
    *,
    interval_seconds: float,
    stopping: asyncio.Event,
    on_failure: Callable[[Exception], None],
) -> None:
    """Run `one_pass` now and then every `interval_seconds` until `stopping` is set. A pass
    that raises is handed to `on_failure` and the loop goes on (the database away, a
    statement failed: what was done stays done, the rest waits for the next pass)."""
    while not stopping.is_set():
        try:
            await one_pass()
        except Exception as error:  # noqa: BLE001 - a janitor must outlive any failure
            on_failure(error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_seconds)
