"""Retention: the notifier deletes finished webhook deliveries (with their attempts), the
events left without any, and old operational events, in the background, in small batches,
one notifier at a time.

What goes, with a retention of `seconds` (0 keeps everything forever):

- deliveries that succeeded or failed and were last updated more than `seconds` ago, with
  their attempts. Pending deliveries stay whatever their age (a disabled endpoint's among
  them, until it is re-enabled or deleted), and so does any delivery under a live lease;
  a replayed or recovered delivery is pending again, and young again when it finishes.
- events received more than `seconds` ago that no delivery refers to any more (all of
  theirs pruned, or none made: an event published straight in that no endpoint wanted;
  one taken from the outbox is kept only with a delivery).
- operational events (a delivery exhausted, an endpoint disabled) written more than
  `seconds` ago.

So a failed delivery can be replayed or recovered for `seconds` after its last attempt.
An event taken from the outbox leaves it in the same statement that keeps it, so nothing
comes back after it is pruned; an event published straight in again after its pruning
would be delivered again (publishing skips only ids it still keeps).

A pass takes a session advisory lock of its own (not the store janitor's) on its own
connection: a notifier that finds it taken skips its pass, so replicas never prune side
by side. Each batch is one statement in its own transaction, so no statement holds many
row locks or leaves much for vacuum at once; a pass repeats batches until a short one
says the table is done (or the notifier is stopping).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from prometheus_client import Counter
from psycopg_pool import AsyncConnectionPool

from inlet_common import retention as shared
from inlet_notifier import repository as repo

log = logging.getLogger(__name__)

ROWS_DELETED = Counter(
    "inlet_webhook_retention_rows_deleted_total", "Webhook rows deleted by retention", ["table"]
)
PASSES = Counter(
    "inlet_webhook_retention_passes_total",
    "Webhook retention passes by outcome (pruned, idle, skipped: another notifier held the"
    " lock, failed)",
    ["outcome"],
)

TABLES = (
    "webhook_deliveries",
    "webhook_attempts",
    "webhook_events",
    "webhook_operational_events",
)
# The advisory lock's name (hashed to its key); the store's janitor has another.
LOCK = "inlet.notifier.retention"


class Janitor(shared.Janitor):
    """Runs a retention pass at start and then every `interval_seconds`; start()/stop()."""

    lock = LOCK
    tables = TABLES
    passes = PASSES
    rows_deleted = ROWS_DELETED
    what = "webhook retention"

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        retention_seconds: int,
        *,
        interval_seconds: float = 600.0,
        delivery_batch_size: int = 1000,
        event_batch_size: int = 1000,
        operational_batch_size: int = 1000,
    ) -> None:
        super().__init__(pool, interval_seconds=interval_seconds)
        self.retention_seconds = retention_seconds
        # Deliveries per statement (their attempts, a handful each, go with them).
        self.delivery_batch_size = delivery_batch_size
        self.event_batch_size = event_batch_size
        # Operational events per statement.
        self.operational_batch_size = operational_batch_size

    @property
    def keeps_everything(self) -> bool:
        return self.retention_seconds == 0

    async def _prune(self, conn: repo.Conn, counts: dict[str, int]) -> None:
        # Deliveries first: the events they leave behind go in the same pass.
        while not self._stopping.is_set():
            done = await repo.row(
                conn,
                "prune_webhook_deliveries",
                retention_seconds=self.retention_seconds,
                limit=self.delivery_batch_size,
            )
            assert done is not None
            self._count(counts, "webhook_deliveries", done["deliveries"])
            self._count(counts, "webhook_attempts", done["attempts"])
            if done["deliveries"] == 0 or done["selected"] < self.delivery_batch_size:
                break
        after_time, after_id = None, ""
        while not self._stopping.is_set():
            done = await repo.row(
                conn,
                "prune_webhook_events",
                retention_seconds=self.retention_seconds,
                limit=self.event_batch_size,
                after_time=after_time,
                after_id=after_id,
            )
            assert done is not None
            self._count(counts, "webhook_events", done["events"])
            if done["selected"] < self.event_batch_size:
                break
            after_time, after_id = done["last_time"], done["last_id"]
        delete = functools.partial(
            repo.execute,
            conn,
            "prune_operational_events",
            retention_seconds=self.retention_seconds,
            limit=self.operational_batch_size,
        )
        await self._in_batches(
            counts, "webhook_operational_events", self.operational_batch_size, delete
        )

    def start(self) -> None:
        if self.keeps_everything:
            log.info(
                "webhook retention off: deliveries, events and operational events are kept forever"
            )
        super().start()
