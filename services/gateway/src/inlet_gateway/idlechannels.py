"""Upstream channels let go once the edge is idle: gRPC's runtime stops with a process's
last channel, and with it the threads that wake it about a dozen times a second."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class IdleRelease:
    """Calls `release` once no request has been in flight for `seconds` (0: never) and
    `busy()` is false; `release` lets go of the channels at once (a request that comes later
    opens new ones) and returns what finishes closing them.

    gRPC's own client idle timeout only drops a channel's connection: its runtime's timer,
    lifeguard and pool threads keep waking as long as any channel exists. Opening again
    costs a connection and the runtime's start, a few milliseconds once per idle spell."""

    def __init__(
        self,
        seconds: float,
        release: Callable[[], Awaitable[None]],
        busy: Callable[[], bool],
    ) -> None:
        self.seconds = seconds
        self._release = release
        self._busy = busy
        self._in_flight = 0
        self._timer: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Future[None]] = set()
        self.releases = 0  # how often the channels were let go (for tests and logs)

    @property
    def armed(self) -> bool:
        """The idle clock runs: no request is in flight and the channels will be let go."""
        return self._timer is not None

    def begin(self) -> None:
        """A request came: the channels stay."""
        self._in_flight += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def end(self) -> None:
        """A request was answered: once none is left, the idle clock starts."""
        self._in_flight -= 1
        if self._in_flight == 0 and self.seconds > 0:
            self._arm()

    def cancel(self) -> None:
        """No release from now on (the edge is closing its channels itself)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.seconds = 0

    def _arm(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.seconds, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._in_flight or self.seconds <= 0:
            return
        if self._busy():
            # A call outlived its request (a batch its callers left): it keeps its channel.
            self._arm()
            return
        # Let go now, in this callback: a request after it must not get a closing channel.
        closing = self._release()
        self.releases += 1
        task = asyncio.ensure_future(closing)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
