"""Waiting for inbox work: claims with nothing to take park here until a NOTIFY says a
request was committed (or their time is up)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class Wakeups:
    """Each wake-up releases one parked waiter (the oldest); one that finds nobody parked is
    kept for the next, so a request committed between a claim and its wait is not missed."""

    def __init__(self) -> None:
        self._parked: deque[asyncio.Future[None]] = deque()
        self._kept = False
        self.closed = False

    def close(self) -> None:
        """Shutting down: release every parked claim now (empty-handed), park none again."""
        self.closed = True
        while self._parked:
            waiter = self._parked.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def wake(self) -> None:
        while self._parked:
            waiter = self._parked.popleft()
            if not waiter.done():
                waiter.set_result(None)
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
            await asyncio.wait_for(asyncio.shield(waiter), seconds)
            return True
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._parked.remove(waiter)
            waiter.cancel()

    @property
    def parked(self) -> int:
        return len(self._parked)
