"""The notifier's gauges read on scrape: deliveries pending and how late the due ones are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common import metrics
from inlet_notifier.repository import QUERIES

BACKLOG: metrics.Gauges = {
    "pending": ("inlet_webhook_deliveries_pending", "Deliveries waiting for an attempt"),
    "due": ("inlet_webhook_deliveries_due", "Pending deliveries whose attempt is due now"),
    "due_oldest_seconds": (
        "inlet_webhook_delivery_lag_seconds",
        "How late the most overdue delivery is (0: none due)",
    ),
}


def watch(pool: AsyncConnectionPool[Any]) -> Callable[[], None]:
    """Export BACKLOG from `pool`'s database; returns the function that stops it."""
    return metrics.watch_backlog(pool, QUERIES, "backlog_gauges", BACKLOG)
