"""Wake-ups for live feeds: one LISTEN connection per store process on `inlet_feed`,
whose notifications (a stream id, sent by the feed trigger at commit) wake that stream's
subscribers. A wake-up only says "look again": the change log is the truth, so a lost
notification costs latency (subscribers also look on a timer), never data."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "inlet_feed"


class FeedHub:
    """Started on the first subscription; `aclose` stops it."""

    def __init__(self, conninfo: str, *, retry_seconds: float = 1.0) -> None:
        self._conninfo = conninfo
        self._retry_seconds = retry_seconds
        self._subscribers: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def subscribe(self, stream_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever `stream_id` may have changed, while the block runs."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
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
        groups = (
            self._subscribers.values()
            if stream_id is None
            else [self._subscribers.get(stream_id, set())]
        )
        for group in groups:
            for wake in group:
                wake.set()

    async def _run(self) -> None:
        while True:
            try:
                conn: Any = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    # Whatever committed while nobody listened: every subscriber looks again.
                    self._wake(None)
                    async for notice in conn.notifies():
                        self._wake(notice.payload)
            except asyncio.CancelledError:
                raise
            except psycopg.Error as error:
                log.warning("feed listener lost its connection", extra={"error": str(error)})
            self.listening.clear()
            await asyncio.sleep(self._retry_seconds)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
