"""Prometheus metrics: the /metrics endpoint (started only when a port is configured),
database pool usage, and gauges read by one query per scrape (cached briefly)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool

from inlet_common.portfile import write_port_file
from inlet_common.sqlfiles import NamedQueries

log = logging.getLogger(__name__)


_SHUTDOWN_POLL_SECONDS = 3600.0


class _MetricsServer(ThreadingMixIn, WSGIServer):
    """A thread per scrape (a slow scraper does not hold up the next)."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


def serve_metrics(
    port: int | None, *, host: str = "127.0.0.1", port_file: str | None = None
) -> int | None:
    """Expose /metrics on host:`port` (0: any free port; None: collected but not served).
    The bound port is returned and, with `port_file`, written there for a supervisor."""
    if port is None:
        return None
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    server: WSGIServer = make_server(
        host,
        port,
        make_wsgi_app(REGISTRY),
        type("MetricsServer", (_MetricsServer,), {"address_family": family}),
        handler_class=_QuietHandler,
    )
    # prometheus_client's own server looks for a shutdown every 0.5 s, waking its thread
    # (and taking the GIL) twice a second in every idle service; nothing shuts this one
    # down (a daemon thread, it ends with the process), so it looks only once an hour.
    threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": _SHUTDOWN_POLL_SECONDS},
        name="metrics",
        daemon=True,
    ).start()
    bound = int(server.server_port)
    if port_file:
        write_port_file(port_file, bound)
    log.info("metrics listening", extra={"metrics_port": bound})
    return bound


class PoolCollector(Collector):
    """Connections of every watched pool: open, idle, in use, callers waiting, maximum."""

    def __init__(self) -> None:
        self._pools: dict[str, AsyncConnectionPool[Any]] = {}
        self._lock = threading.Lock()

    def watch(self, name: str, pool: AsyncConnectionPool[Any]) -> None:
        with self._lock:
            self._pools[name] = pool

    def forget(self, pool: AsyncConnectionPool[Any]) -> None:
        with self._lock:
            self._pools = {n: p for n, p in self._pools.items() if p is not pool}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            "pool_size": GaugeMetricFamily(
                "inlet_db_pool_connections", "Connections the pool holds open", labels=["pool"]
            ),
            "pool_available": GaugeMetricFamily(
                "inlet_db_pool_idle_connections", "Open connections not in use", labels=["pool"]
            ),
            "pool_max": GaugeMetricFamily(
                "inlet_db_pool_max_connections", "The pool's maximum size", labels=["pool"]
            ),
            "requests_waiting": GaugeMetricFamily(
                "inlet_db_pool_waiting", "Callers waiting for a connection", labels=["pool"]
            ),
        }
        in_use = GaugeMetricFamily(
            "inlet_db_pool_in_use_connections", "Connections lent out now", labels=["pool"]
        )
        with self._lock:
            pools = dict(self._pools)
        for name, pool in pools.items():
            # get_stats() reads counters only (no I/O, no lock across the loop).
            stats = pool.get_stats()
            for key, family in families.items():
                family.add_metric([name], float(stats.get(key, 0)))
            in_use.add_metric(
                [name], float(stats.get("pool_size", 0) - stats.get("pool_available", 0))
            )
        yield from families.values()
        yield in_use


POOLS = PoolCollector()
REGISTRY.register(POOLS)


Gauges = Mapping[str, tuple[str, str]]


class QueryGauges(Collector):
    """Gauges from one query run on the service's own loop when scraped, at most once per
    `cache_seconds` (scrapes from several Prometheus servers cost one query). A query that
    fails or takes longer than `timeout` leaves the gauges out of that scrape."""

    def __init__(
        self,
        read: Callable[[], Awaitable[Mapping[str, Any]]],
        gauges: Gauges,
        *,
        loop: asyncio.AbstractEventLoop,
        cache_seconds: float = 5.0,
        timeout: float = 2.0,
    ) -> None:
        self._read = read
        self._gauges = dict(gauges)
        self._loop = loop
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._lock = threading.Lock()
        self._values: Mapping[str, Any] | None = None
        self._read_at = 0.0

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registering must not run the query (it runs only on scrape).
        for name, help_text in self._gauges.values():
            yield GaugeMetricFamily(name, help_text)

    def _current(self) -> Mapping[str, Any] | None:
        with self._lock:
            if self._values is not None and time.monotonic() - self._read_at < self._cache_seconds:
                return self._values
            future = asyncio.run_coroutine_threadsafe(_call(self._read), self._loop)
            try:
                self._values = future.result(self._timeout)
            except Exception as error:  # noqa: BLE001 - a scrape must not fail the service
                future.cancel()
                log.warning("metrics query failed", extra={"error": repr(error)})
                self._values = None
            self._read_at = time.monotonic()
            return self._values

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = self._current()
        if values is None:
            return
        for column, (name, help_text) in self._gauges.items():
            value = values.get(column)
            yield GaugeMetricFamily(name, help_text, value=float(value or 0))


async def _call(read: Callable[[], Awaitable[Mapping[str, Any]]]) -> Mapping[str, Any]:
    return await read()


def watch_backlog(
    pool: AsyncConnectionPool[Any], queries: NamedQueries, query: str, gauges: Gauges
) -> Callable[[], None]:
    """Export `gauges` (column → (metric, help)) from the one row of the named `query`,
    read on scrape; call inside the service's loop. Returns the unregistering function."""

    async def read() -> Mapping[str, Any]:
        async with pool.connection() as conn:
            return await queries.row(conn, query) or {}

    collector = QueryGauges(read, gauges, loop=asyncio.get_running_loop())
    REGISTRY.register(collector)
    return lambda: REGISTRY.unregister(collector)
