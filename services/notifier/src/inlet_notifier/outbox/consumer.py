"""The use case: drain the outbox whenever woken (NOTIFY) and, as a fallback, on a slow poll."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import Counter

from inlet_common.errors import InletError
from inlet_notifier.outbox.repository import OutboxRepository

log = logging.getLogger(__name__)

TAKEN = Counter("inlet_outbox_events_taken_total", "Outbox events turned into deliveries")


class OutboxConsumer:
    """Takes batches until the outbox is empty, then sleeps until woken or `poll_seconds`.

    `on_deliveries` tells the local delivery worker that deliveries were made (other
    notifiers hear of them through the deliveries' own NOTIFY).
    """

    def __init__(
        self,
        outbox: OutboxRepository,
        *,
        on_deliveries: Callable[[], None] = lambda: None,
        batch_size: int = 500,
        poll_seconds: float = 30.0,
        max_backoff_seconds: float = 5.0,
        gather_seconds: float = 0.005,
    ) -> None:
        self.outbox = outbox
        self.on_deliveries = on_deliveries
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        # Woken, it waits this long before taking: every commit notifies, and under load
        # one take then gathers the events of many commits.
        self.gather_seconds = gather_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Events were committed: look now rather than at the next poll."""
        self._wake.set()

    async def drain(self) -> int:
        """Take batches until one comes back short; the number of events taken."""
        total = 0
        while True:
            taken = await self.outbox.take(self.batch_size)
            total += taken.events
            TAKEN.inc(taken.events)
            if taken.deliveries:
                self.on_deliveries()
            if taken.events < self.batch_size:
                return total

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-consumer")

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task

    async def run(self) -> None:
        pause = self.poll_seconds
        while not self._stopping.is_set():
            # Cleared before draining: a wake-up that arrives mid-drain is not lost.
            self._wake.clear()
            try:
                await self.drain()
                pause = self.poll_seconds
            except InletError as error:
                # Database away: the events stay in the outbox; try again, backing off.
                log.warning("taking the outbox failed; retrying", extra={"error": repr(error)})
                pause = min(max(pause, 0.1) * 2, self.max_backoff_seconds)
            except Exception:
                log.exception("taking the outbox crashed; retrying")
                pause = self.max_backoff_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)
            if self._wake.is_set() and not self._stopping.is_set() and self.gather_seconds:
                await asyncio.sleep(self.gather_seconds)
