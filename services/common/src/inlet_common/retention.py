"""What every retention janitor shares: the retention setting, one janitor at a time
under a session advisory lock, the loop that runs a pass now and then every interval,
and the Janitor base class that puts them together (counts, metrics, the log line).

What each janitor deletes, in which batches, under which lock and metric names, lives
with the service that owns the tables: inlet_store.retention, inlet_notifier.retention.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from prometheus_client import Counter
from psycopg import AsyncConnection

from inlet_common.config import ConfigError, Env

if TYPE_CHECKING:
    # Only named here: the services that run a janitor bring psycopg_pool themselves.
    from psycopg_pool import AsyncConnectionPool

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


class Janitor(abc.ABC):
    """Runs a retention pass at start and then every `interval_seconds`; start()/stop().

    A subclass says what a pass deletes (`_prune`), when there is nothing it ever would
    (`keeps_everything`), and, as class attributes, who it is: `lock` names its session
    advisory lock (one per service, so their janitors never hold each other back),
    `tables` are the keys of a pass's counts, `passes` (label: outcome) and
    `rows_deleted` (label: table) are its Prometheus counters, and `what` names it in its
    log lines ("{what} pass deleted rows", "{what} pass failed") and its task. Its lines
    go to its own module's logger. This class takes the lock, counts and reports.
    """

    lock: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    passes: ClassVar[Counter]
    rows_deleted: ClassVar[Counter]
    what: ClassVar[str]

    def __init__(self, pool: AsyncConnectionPool[Any], *, interval_seconds: float) -> None:
        self.pool = pool
        self.interval_seconds = interval_seconds
        self.log = logging.getLogger(type(self).__module__)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def keeps_everything(self) -> bool:
        """True when a pass would delete nothing: prune_once() then returns zero counts
        at once (no lock, no metrics) and start() runs no task."""
        return False

    @abc.abstractmethod
    async def _prune(self, conn: AsyncConnection[Any], counts: dict[str, int]) -> None:
        """One pass's deletes on `conn` (under the lock), each counted with _count()."""

    async def prune_once(self) -> dict[str, int] | None:
        """One pass; rows deleted per table, or None when another process holds the lock."""
        counts = dict.fromkeys(self.tables, 0)
        if self.keeps_everything:
            return counts
        started = time.monotonic()
        async with self.pool.connection() as conn, session_lock(conn, self.lock) as locked:
            if not locked:
                self.passes.labels("skipped").inc()
                return None
            await self._prune(conn, counts)
        deleted = {table: n for table, n in counts.items() if n}
        self.passes.labels("pruned" if deleted else "idle").inc()
        if deleted:
            self.log.info(
                f"{self.what} pass deleted rows",
                extra={"deleted": deleted, "seconds": round(time.monotonic() - started, 3)},
            )
        return counts

    async def _in_batches(
        self,
        counts: dict[str, int],
        table: str,
        batch_size: int,
        delete: Callable[[], Awaitable[int]],
    ) -> None:
        """Run `delete` (one statement deleting at most `batch_size` rows of `table`; rows
        deleted) until a short batch says the table is done or the janitor is stopping."""
        while not self._stopping.is_set():
            deleted = await delete()
            self._count(counts, table, deleted)
            if deleted < batch_size:
                break

    def _count(self, counts: dict[str, int], table: str, deleted: int) -> None:
        counts[table] += deleted
        if deleted:
            self.rows_deleted.labels(table).inc(deleted)

    async def run(self) -> None:
        await run_passes(
            self.prune_once,
            interval_seconds=self.interval_seconds,
            stopping=self._stopping,
            on_failure=self._failed,
        )

    def _failed(self, error: Exception) -> None:
        self.passes.labels("failed").inc()
        self.log.warning(f"{self.what} pass failed", extra={"error": repr(error)})

    def start(self) -> None:
        if self.keeps_everything:
            return
        name = f"{self.what.replace(' ', '-')}-janitor"
        self._task = asyncio.create_task(self.run(), name=name)

    async def stop(self) -> None:
        """Finish the batch in hand, then stop (no pass is cut off mid-statement)."""
        self._stopping.set()
        if self._task is not None:
            await self._task
