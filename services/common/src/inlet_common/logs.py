"""JSON logging with the current request id (and the client's own, and the trace id when
tracing is on) on every line."""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from inlet_common import tracing

# Set per request by the gateway and by every service's interceptor (inlet_common.requestids).
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
client_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "client_request_id", default=""
)


QUIET_LIBRARIES = ("httpx", "httpcore")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        client = client_request_id.get()
        if client:
            record.client_request_id = client
        trace_id = tracing.trace_id()
        if trace_id:
            record.trace_id = trace_id
        return True


def configure(service: str, level: str = "INFO") -> None:
    """Send JSON lines to stderr; call once from a service's entry point."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every outbound request at INFO, URL included (a webhook URL may hold a
    # token): our own line per attempt says what an operator needs.
    for chatty in QUIET_LIBRARIES:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
