"""Wake-ups for live feeds: the store process's LISTEN connection also listens on
`inlet_feed` once a feed is watched, whose notifications (a stream id, sent by the feed
trigger at commit) wake that stream's subscribers. A wake-up only says "look again": the
change log is the truth, so a lost notification costs latency (subscribers also look on a
timer), never data."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from inlet_common.listen import Listener

CHANNEL = "inlet_feed"


class FeedHub:
    """Listens on `listener` (the process's one LISTEN connection) from the first
    subscription on; `aclose` stops the listener if the hub made it (`FeedHub.own`)."""

    def __init__(self, listener: Listener, *, owns_listener: bool = False) -> None:
        self._listener = listener
        self._owns_listener = owns_listener
        self._subscribers: dict[str, set[asyncio.Event]] = {}
        self._added = False

    @classmethod
    def own(cls, conninfo: str) -> FeedHub:
        """A hub with a LISTEN connection of its own (when the process has none to share)."""
        return cls(Listener(conninfo), owns_listener=True)

    @contextlib.contextmanager
    def subscribe(self, stream_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever `stream_id` may have changed, while the block runs."""
        if not self._added:
            # Not before: with nobody watching, the process is not woken by every commit.
            self._listener.add(CHANNEL, self._wake)
            self._added = True
        wake = asyncio.Event()
        self._subscribers.setdefault(stream_id, set()).add(wake)
        try:
            yield wake
        finally:
            found = self._subscribers.get(stream_id)
            if found is not None:
                found.discard(wake)
                if not found:
                    del self._subscribers[stream_id]

    def _wake(self, stream_id: str | None) -> None:
        """None (the listener (re)connected; whatever committed meanwhile is unknown):
        every subscriber looks again."""
        groups = (
            list(self._subscribers.values())
            if stream_id is None
            else [self._subscribers.get(stream_id, set())]
        )
        for group in groups:
            for wake in group:
                wake.set()

    async def aclose(self) -> None:
        if self._owns_listener:
            await self._listener.stop()
