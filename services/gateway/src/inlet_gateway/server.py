"""Serving the gateway with uvicorn on a socket we bind ourselves (so port 0 works)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate

import uvicorn
from uvicorn.server import ServerState

from inlet_common.httpobserve import ObservedApp
from inlet_common.portfile import write_port_file
from inlet_gateway.app import Gateway, create_app
from inlet_gateway.config import GatewayConfig
from inlet_gateway.slowclients import protocol_with

log = logging.getLogger(__name__)


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket on host:port (port 0: the kernel picks a free one)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


class _FreshDateState(ServerState):
    """uvicorn's shared server state, whose default headers carry a Date made when a
    request reads them in a new second (uvicorn's own refreshes them from its tick)."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._config = config
        self._second = -1
        self._headers: list[tuple[bytes, bytes]] = []
        super().__init__()

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:
        now = time.time()
        if int(now) != self._second:
            self._second = int(now)
            date = [(b"date", formatdate(now, usegmt=True).encode())]
            self._headers = (date if self._config.date_header else []) + (
                self._config.encoded_headers
            )
        return self._headers

    @default_headers.setter
    def default_headers(self, _value: list[tuple[bytes, bytes]]) -> None:
        # uvicorn's start and tick set them; they are made on reading instead.
        self._second = -1


class _Server(uvicorn.Server):
    """uvicorn's server, minus its signal juggling when embedded in someone else's loop,
    and minus its tick.

    Standalone, SIGTERM/SIGINT go through the loop (uvicorn would otherwise re-raise the
    signal after shutdown and the process would die by it instead of exiting 0).

    uvicorn's main loop wakes ten times a second to refresh the Date header and to look
    whether it should exit; here the Date is made when read (`_FreshDateState`) and exiting
    is an event, so an idle gateway sleeps. (Its other tick duties, the notify callback and
    the request limit, are not configured here.)
    """

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool) -> None:
        # Before uvicorn's __init__, which sets should_exit.
        self._exit = asyncio.Event()
        super().__init__(config)
        self.server_state = _FreshDateState(config)
        self._handle_signals = handle_signals

    @property
    def should_exit(self) -> bool:
        return self._exit.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._exit.set()
        else:
            self._exit.clear()

    async def main_loop(self) -> None:
        await self._exit.wait()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self._handle_signals:
            yield
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def uvicorn_config(app: Gateway, config: GatewayConfig) -> uvicorn.Config:
    return uvicorn.Config(
        # Counted, timed and traced by the one HTTP middleware.
        ObservedApp(app),
        # httptools, with a deadline for each request's head (slow clients are closed).
        http=protocol_with(config.header_timeout_seconds),
        ws="none",
        lifespan="on",
        log_config=None,
        log_level=config.log_level.lower(),
        # Our own access line names the route template: uvicorn's would log the secret path.
        access_log=False,
        proxy_headers=False,
        server_header=False,
        reset_contextvars=True,
        # In-flight calls may take the whole upstream timeout; let them finish.
        timeout_graceful_shutdown=math.ceil(config.timeout_seconds) + 1,
    )


@dataclass
class RunningGateway:
    """A gateway serving in the current event loop (for tests and embedding)."""

    app: Gateway
    port: int
    host: str
    _server: _Server
    _task: asyncio.Task[None]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def wait(self) -> None:
        """Until the server has shut down (by stop() or a signal)."""
        try:
            await asyncio.shield(self._task)
        finally:
            if self._task.done():
                await self.app.aclose()

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, close the upstream channels."""
        self._server.should_exit = True
        try:
            await self._task
        finally:
            await self.app.aclose()


async def start(
    config: GatewayConfig,
    *,
    app: Gateway | None = None,
    handle_signals: bool = False,
    startup_timeout: float = 10.0,
) -> RunningGateway:
    """Bind, serve in the background, and return once the gateway accepts connections."""
    gateway = app or create_app(config)
    sock = bind_socket(config.listen_host, config.listen_port)
    port = bound_port(sock)
    server = _Server(uvicorn_config(gateway, config), handle_signals=handle_signals)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="inlet-gateway")
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # raises the startup error
            raise RuntimeError("gateway stopped before it started")
        if time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise TimeoutError("gateway did not start in time")
        await asyncio.sleep(0.01)
    return RunningGateway(gateway, port, config.listen_host, server, task)


class _DropColorMessage(logging.Filter):
    """uvicorn attaches an ANSI-coloured copy of some messages; JSON lines don't want it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


async def serve(config: GatewayConfig) -> None:
    """Run until SIGTERM/SIGINT; write the bound port to INLET_PORT_FILE once listening."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropColorMessage) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_DropColorMessage())
    running = await start(config, handle_signals=True)
    if config.port_file:
        write_port_file(config.port_file, running.port)
    log.info(
        "gateway listening",
        extra={"port": running.port, "matcher": config.matcher_addr},
    )
    await running.wait()
    log.info("gateway stopped")
