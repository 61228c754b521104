"""Prometheus metrics endpoint, started only when a port is configured."""

from __future__ import annotations

from prometheus_client import start_http_server


def serve_metrics(port: int | None) -> None:
    """Expose /metrics on `port` (None: metrics are collected but not served)."""
    if port is not None:
        start_http_server(port, addr="127.0.0.1")
