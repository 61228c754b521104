"""The store's gauges read on scrape: inbox depth and age, outbox depth and lag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common import metrics
from inlet_store.queries import STORE

BACKLOG: metrics.Gauges = {
    "inbox_queued": ("inlet_inbox_queued_requests", "Inbox requests waiting for a worker"),
    "inbox_processing": ("inlet_inbox_processing_requests", "Inbox requests being worked"),
    "inbox_oldest_seconds": (
        "inlet_inbox_oldest_age_seconds",
        "Age of the oldest inbox request not yet completed (0: none)",
    ),
    "outbox_events": ("inlet_outbox_events", "Committed events not yet handed to the notifier"),
    "outbox_oldest_seconds": (
        "inlet_outbox_lag_seconds",
        "Age of the oldest event still in the outbox (0: none)",
    ),
}


def watch(pool: AsyncConnectionPool[Any]) -> Callable[[], None]:
    """Export BACKLOG from `pool`'s database; returns the function that stops it."""
    return metrics.watch_backlog(pool, STORE, "backlog_gauges", BACKLOG)
