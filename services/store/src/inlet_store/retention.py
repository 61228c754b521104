"""Retention: the store deletes finished stream requests and old log entries, in the
background, in small batches, one store at a time.

What goes, and when (0 for a period keeps those rows forever):

- stream requests that finished (completed or failed) more than `request_seconds` ago,
  with their item outcomes; queued and processing requests stay whatever their age; push
  transfers completed that long ago, with their items' returned data;
- connector log, endpoint activity and push session log entries (and the marks of
  rotated-out token uses), and the streams' live-feed change log, written more than
  `log_seconds` ago (a feed resumed from a pruned position is refused, naming it);
- always, whatever the retention: Idempotency-Keys past their expiry and rate-limit
  windows long over (guards.expire), which are bookkeeping, not history.

A pass takes a session advisory lock on its own connection (pg_try_advisory_lock): a
store that finds it taken skips its pass, so replicas never prune side by side. Each
batch is one statement in its own transaction, so no statement holds many row locks or
leaves much for vacuum at once; a pass repeats batches until a short one says the table
is done (or the store is stopping).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from psycopg_pool import AsyncConnectionPool

from inlet_common import retention as shared
from inlet_store import guards
from inlet_store import repository as repo

log = logging.getLogger(__name__)

ROWS_DELETED = Counter("inlet_retention_rows_deleted_total", "Rows deleted by retention", ["table"])
PASSES = Counter(
    "inlet_retention_passes_total",
    "Retention passes by outcome (pruned, idle, skipped: another store held the lock, failed)",
    ["outcome"],
)

LOCK = "inlet.store.retention"

TABLES = (
    "stream_requests",
    "stream_request_items",
    "connector_log_entries",
    "activity_entries",
    "endpoint_grace_uses",
    "push_transfers",
    "push_log_entries",
    "stream_feed",
    *guards.EXPIRED_TABLES,
)


@dataclass(frozen=True)
class Retention:
    """How long rows are kept, in seconds; 0 keeps them forever."""

    request_seconds: int
    log_seconds: int

    @property
    def keeps_everything(self) -> bool:
        return self.request_seconds == 0 and self.log_seconds == 0


class Janitor(shared.Janitor):
    """Runs a retention pass at start and then every `interval_seconds`; start()/stop().

    It never keeps everything: with both retentions 0 it still runs, for guards.expire.
    """

    lock = LOCK
    tables = TABLES
    passes = PASSES
    rows_deleted = ROWS_DELETED
    what = "retention"

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        retention: Retention,
        *,
        interval_seconds: float = 600.0,
        batch_size: int = 5000,
        request_batch_size: int = 500,
        request_batch_items: int = 50_000,
    ) -> None:
        super().__init__(pool, interval_seconds=interval_seconds)
        self.retention = retention
        # Log entries per statement.
        self.batch_size = batch_size
        # Requests per statement, and items between them: a request body may be up to the
        # gateway's body cap, so requests go in smaller batches than log lines.
        self.request_batch_size = request_batch_size
        self.request_batch_items = request_batch_items

    async def _prune(self, conn: repo.Conn, counts: dict[str, int]) -> None:
        for table, deleted in (await guards.expire(conn)).items():
            self._count(counts, table, deleted)
        if self.retention.request_seconds:
            while not self._stopping.is_set():
                done = await repo.row(
                    conn,
                    "prune_stream_requests",
                    retention_seconds=self.retention.request_seconds,
                    limit=self.request_batch_size,
                    max_items=self.request_batch_items,
                )
                assert done is not None
                self._count(counts, "stream_requests", done["requests"])
                self._count(counts, "stream_request_items", done["items"])
                # A full batch, or one cut short by its items, may have left more behind.
                full = done["selected"] == self.request_batch_size
                if done["requests"] == 0 or not (full or done["requests"] < done["selected"]):
                    break
            transfers = functools.partial(
                repo.execute,
                conn,
                "prune_push_transfers",
                retention_seconds=self.retention.request_seconds,
                limit=self.request_batch_size,
            )
            await self._in_batches(counts, "push_transfers", self.request_batch_size, transfers)
        if self.retention.log_seconds:
            for query, table in (
                ("prune_connector_log", "connector_log_entries"),
                ("prune_activity_log", "activity_entries"),
                ("prune_grace_uses", "endpoint_grace_uses"),
                ("prune_push_log", "push_log_entries"),
                ("prune_stream_feed", "stream_feed"),
            ):
                delete = functools.partial(
                    repo.execute,
                    conn,
                    query,
                    retention_seconds=self.retention.log_seconds,
                    limit=self.batch_size,
                )
                await self._in_batches(counts, table, self.batch_size, delete)

    def start(self) -> None:
        if self.retention.keeps_everything:
            # Still started: expired Idempotency-Keys and rate windows must go regardless.
            log.info("retention off: requests and logs are kept forever")
        super().start()
