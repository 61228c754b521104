"""uvicorn's HTTP protocol with a deadline for each request's head (slowloris defence).

uvicorn times out idle keep-alive connections but not a client that trickles its headers;
here a request's head must be complete within `header_timeout` of the connection (or of
the previous answer), or the connection is closed. The body has its own deadline, in the
application (it answers 408 in the route's dialect). Its connections write what one turn of
the loop answers in one send (`TurnWrites`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from inlet_gateway.turnwrites import TurnWritesProtocol

log = logging.getLogger(__name__)


class HeaderDeadlineProtocol(TurnWritesProtocol):
    """HttpToolsProtocol closing connections whose request head is too slow to arrive."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            # The next request's head has the same deadline (uvicorn's keep-alive timer
            # only covers a connection that sends nothing at all).
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served; its body has the application's deadline
        log.info("connection closed: request headers not received in time")
        self.transport.close()


def protocol_with(header_timeout: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for a server whose heads must arrive within `header_timeout`."""
    return type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout": header_timeout})
