"""Waiting for inbox work: claims with nothing to take park here until a NOTIFY says a
request was committed (or their time is up)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

# How long a waiter released by a wake-up lingers before it returns (and its claim looks),
# so that requests committed close together are claimed, applied and committed as one batch
# rather than each by a claim of its own; short beside stream ingest's "typically within
# 100 ms".
GATHER_SECONDS = 0.005


class Wakeups:
    """Each wake-up releases one parked waiter (the oldest); one that finds nobody parked is
    kept for the next, so a request committed between a claim and its wait is not missed.

    A released waiter gathers for `gather_seconds` before it returns: the wake-ups meanwhile
    are its own (its claim takes their requests), and when there were any it hands one on as
    it returns, so a request its claim's budget leaves behind still wakes a claim."""

    def __init__(self, gather_seconds: float = GATHER_SECONDS) -> None:
        self._parked: deque[asyncio.Future[None]] = deque()
        self._kept = False
        self.closed = False
        self.gather_seconds = gather_seconds
        self._gathering = 0  # released waiters still gathering
        self._to_gather: set[asyncio.Future[None]] = set()  # released, not yet gathering
        self._absorbed = False

    def close(self) -> None:
        """Shutting down: release every parked claim now (empty-handed), park none again."""
        self.closed = True
        while self._parked:
            waiter = self._parked.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def wake(self) -> None:
        if self._gathering:
            self._absorbed = True
            return
        while self._parked:
            waiter = self._parked.popleft()
            if not waiter.done():
                waiter.set_result(None)
                if self.gather_seconds > 0:
                    # From now on, not when it next runs: the wake-ups in between are its.
                    self._gathering += 1
                    self._to_gather.add(waiter)
                return
        self._kept = True

    async def wait(self, seconds: float) -> bool:
        """Park for at most `seconds`; True when woken."""
        if self._kept:
            self._kept = False
            return True
        if seconds <= 0 or self.closed:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._parked.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), seconds)
        finally:
            with contextlib.suppress(ValueError):
                self._parked.remove(waiter)
            woken = waiter.done() and not waiter.cancelled()
            waiter.cancel()
        if waiter in self._to_gather:
            self._to_gather.discard(waiter)
            await self._gather()
        return woken

    async def _gather(self) -> None:
        try:
            await asyncio.sleep(self.gather_seconds)
        finally:
            self._gathering -= 1
            if self._absorbed and not self._gathering:
                self._absorbed = False
                self.wake()

    @property
    def parked(self) -> int:
        return len(self._parked)
