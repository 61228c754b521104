"""One long poll per matcher: of its claim loops that find no work, one waits at the store
and the others wait here until it comes back with some."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class ClaimTurn:
    """The turn to wait at the store (a long poll) for inbox work.

    At most one loop holds the turn: its claim may wait there until a request is committed
    or its time is up. Any other loop claims without waiting (under load there is work to
    take at once) and, finding none, parks here; so an idle matcher makes one call per poll
    interval rather than one per loop. The holder that comes back with work hands the turn
    on (`release(handed_on=True)`): one parked loop is let go to wait at the store in its
    place, or to take what its batch left behind."""

    def __init__(self) -> None:
        self.held = False
        self._parked: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """Take the turn if nobody holds it; True when taken."""
        if self.held:
            return False
        self.held = True
        return True

    def release(self, *, handed_on: bool) -> None:
        """Give the turn back; `handed_on`: let one parked loop go to take it."""
        self.held = False
        if handed_on:
            self._let_one_go()

    async def wait(self) -> None:
        """Park until the holder hands the turn on."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._parked.append(waiter)
        try:
            await waiter
        finally:
            # Cancelled while parked: out of the queue, so no hand-on is spent on it.
            with contextlib.suppress(ValueError):
                self._parked.remove(waiter)

    def _let_one_go(self) -> None:
        while self._parked:
            waiter = self._parked.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    @property
    def parked(self) -> int:
        return len(self._parked)
