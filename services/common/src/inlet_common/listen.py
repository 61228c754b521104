"""LISTEN/NOTIFY wake-ups: one dedicated connection per process, a callback per channel.

A notification only says "look now"; whoever is woken reads the table itself. So a lost
connection loses nothing: on every (re)connect each callback is called once, since
notifications sent while nobody listened are gone, and the waiters keep a slow poll as a
fallback anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

Wake = Callable[[], None]


class Listener:
    """LISTENs on each channel of `wakes` and calls its callback on every notification."""

    def __init__(
        self,
        url: str,
        wakes: Mapping[str, Wake],
        *,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.wakes = dict(wakes)
        self.max_backoff_seconds = max_backoff_seconds
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _wake_all(self) -> None:
        for wake in self.wakes.values():
            wake()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    for channel in self.wakes:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self.connected.set()
                    backoff = 0.1
                    self._wake_all()
                    async for note in conn.notifies():
                        wake = self.wakes.get(note.channel)
                        if wake is not None:
                            wake()
            except psycopg.Error as error:
                self.connected.clear()
                log.warning(
                    "LISTEN connection lost; reconnecting (polling meanwhile)",
                    extra={"error": repr(error)},
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_seconds)
