"""LISTEN/NOTIFY wake-ups: one dedicated connection per process, a callback per channel.

A notification only says "look now"; whoever is woken reads the table itself. So a lost
connection loses nothing: on every (re)connect each callback is called once, since
notifications sent while nobody listened are gone, and the waiters keep a slow poll as a
fallback anyway.

Idle, the connection costs nothing: the loop sleeps on its socket becoming readable
(psycopg's own `notifies()` re-arms a 0.1 s timer while it waits, ten wake-ups a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import pq, sql

log = logging.getLogger(__name__)

Wake = Callable[[], None]
# Called with each notification's payload, and with None on every (re)connect.
OnNotify = Callable[[str | None], None]


class Listener:
    """LISTENs on each channel of `wakes` (and of `add`) and calls its callback on every
    notification."""

    def __init__(
        self,
        url: str,
        wakes: Mapping[str, Wake] | None = None,
        *,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.handlers: dict[str, OnNotify] = {
            channel: _ignoring_payload(wake) for channel, wake in (wakes or {}).items()
        }
        self.max_backoff_seconds = max_backoff_seconds
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Poked by the socket becoming readable, and by a channel added meanwhile.
        self._wakeup = _Wakeup()
        self._stopped = False

    def start(self) -> None:
        self._stopped = False
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="listen")

    def add(self, channel: str, on_notify: OnNotify) -> None:
        """LISTEN on `channel` too, from now on (the connection is started if it was not):
        `on_notify` gets each payload, and None once LISTENing (as on every reconnect)."""
        self.handlers[channel] = on_notify
        self._wakeup.poke()
        if not self._stopped:
            self.start()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _dispatch(self, channel: str, payload: str | None) -> None:
        handler = self.handlers.get(channel)
        if handler is not None:
            handler(payload)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await self._serve(conn)
            except psycopg.Error as error:
                self.connected.clear()
                log.warning(
                    "LISTEN connection lost; reconnecting (polling meanwhile)",
                    extra={"error": repr(error)},
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_seconds)

    async def _serve(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """LISTEN, then dispatch notifications until the connection fails."""
        # Notifications that arrive while a LISTEN runs are read by psycopg.
        conn.add_notify_handler(lambda note: self._dispatch(note.channel, note.payload))
        loop = asyncio.get_running_loop()
        fileno = conn.pgconn.socket
        listening: set[str] = set()
        loop.add_reader(fileno, self._wakeup.poke)
        try:
            while True:
                if any(channel not in listening for channel in self.handlers):
                    # psycopg's own wait takes over the socket's reader while it runs.
                    loop.remove_reader(fileno)
                    await self._listen_to_new(conn, listening)
                    loop.add_reader(fileno, self._wakeup.poke)
                self.connected.set()
                # Before sleeping: a notification a statement's read left in libpq's
                # buffer would not make the socket readable again.
                _read_notifications(conn, self._dispatch)
                await self._wakeup.wait()
        finally:
            loop.remove_reader(fileno)

    async def _listen_to_new(self, conn: psycopg.AsyncConnection[Any], listening: set[str]) -> None:
        """LISTEN on the channels not listened to yet; each one's callback is called once,
        after its LISTEN (what was committed before it is for the callee to look at)."""
        new = [channel for channel in self.handlers if channel not in listening]
        for channel in new:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            listening.add(channel)
        for channel in new:
            self._dispatch(channel, None)


class _Wakeup:
    """What the loop sleeps on: no timer, one future per sleep; a poke while awake is kept
    for the next `wait`."""

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._poked = False

    def poke(self) -> None:
        self._poked = True
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def wait(self) -> None:
        if not self._poked:
            self._future = asyncio.get_running_loop().create_future()
            try:
                await self._future
            finally:
                self._future = None
        self._poked = False


def _ignoring_payload(wake: Wake) -> OnNotify:
    return lambda _payload: wake()


def _read_notifications(
    conn: psycopg.AsyncConnection[Any], dispatch: Callable[[str, str | None], None]
) -> None:
    """Take in what the socket holds and dispatch its notifications (as psycopg's own
    `notifies()` does); a closed or broken connection raises psycopg.OperationalError."""
    pgconn = conn.pgconn
    pgconn.consume_input()
    if pgconn.status != pq.ConnStatus.OK:
        # A socket left readable (at its end) must not be slept on again: a busy loop.
        raise psycopg.OperationalError("the LISTEN connection is closed")
    encoding = conn.info.encoding
    while (note := pgconn.notifies()) is not None:
        dispatch(note.relname.decode(encoding), note.extra.decode(encoding))
