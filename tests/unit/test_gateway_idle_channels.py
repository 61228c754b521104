"""The gateway's idle release of its upstream channels: only when no request is in flight
and no call outlived its request, once per idle spell, never when off."""

from __future__ import annotations

import asyncio

from inlet_gateway.idlechannels import IdleRelease
from tests.polling import until


class Upstreams:
    """Stands in for the gateway: what was let go, and whether a call is still out."""

    def __init__(self) -> None:
        self.let_go = 0
        self.closed = 0
        self.busy = False
        self.asked = 0

    def release(self) -> asyncio.Future[None]:
        self.let_go += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(lambda _: self._closed())
        done.set_result(None)
        return done

    def _closed(self) -> None:
        self.closed += 1

    def is_busy(self) -> bool:
        self.asked += 1
        return self.busy


def idle(upstreams: Upstreams, seconds: float = 0.01) -> IdleRelease:
    return IdleRelease(seconds, upstreams.release, upstreams.is_busy)


async def test_the_channels_are_let_go_once_the_last_request_was_answered() -> None:
    upstreams = Upstreams()
    release = idle(upstreams)

    release.begin()
    release.begin()
    release.end()
    assert not release.armed  # one still in flight

    release.end()
    assert release.armed
    await until(lambda: upstreams.closed == 1, what="the channels let go and closed")
    assert (upstreams.let_go, release.releases, release.armed) == (1, 1, False)


async def test_a_request_that_comes_stops_the_idle_clock() -> None:
    upstreams = Upstreams()
    release = idle(upstreams, seconds=3600)

    release.begin()
    release.end()
    assert release.armed
    release.begin()

    assert not release.armed
    assert upstreams.let_go == 0
    release.end()
    release.cancel()


async def test_a_call_that_outlived_its_request_keeps_the_channels_until_it_ends() -> None:
    upstreams = Upstreams()
    upstreams.busy = True
    release = idle(upstreams)

    release.begin()
    release.end()
    await until(lambda: upstreams.asked >= 2, what="the idle clock to run twice")
    assert upstreams.let_go == 0
    assert release.armed

    upstreams.busy = False
    await until(lambda: upstreams.let_go == 1, what="the channels let go")


async def test_no_release_when_off_or_cancelled() -> None:
    upstreams = Upstreams()
    off = idle(upstreams, seconds=0)
    off.begin()
    off.end()
    assert not off.armed

    cancelled = idle(upstreams, seconds=3600)
    cancelled.begin()
    cancelled.end()
    cancelled.cancel()
    assert not cancelled.armed
    cancelled.begin()
    cancelled.end()
    assert not cancelled.armed
    assert upstreams.let_go == 0
