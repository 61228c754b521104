"""JSON logging with the current request id (and the client's own, and the trace id when
tracing is on) on every line."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from typing import TextIO

from pythonjsonlogger.orjson import OrjsonFormatter

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


class TurnBatchedHandler(logging.StreamHandler[TextIO]):
    """Writes the lines logged during one event-loop turn together, at the end of that turn.

    A busy service logs a line per request in each process it crosses; one write (and
    flush) per line was several per cent of each process's CPU. The lines wait for the end
    of the turn that logged them, no longer: a crash loses at most that turn's lines. Off
    the loop (another thread, or no loop running), a line is written at once.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except (TypeError, ValueError, KeyError):  # a bad record must not break its caller
            self.handleError(record)
            return
        self._pending.append(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_pending()
            return
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._write_turn)

    def _write_turn(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            self._scheduled = False
            self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        text = "\n".join(self._pending) + "\n"
        self._pending.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream, as logging.StreamHandler
            self.handleError(logging.makeLogRecord({"msg": "cannot write log lines"}))

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_pending()
        super().flush()


def configure(service: str, level: str = "INFO") -> None:
    """Send JSON lines to stderr; call once from a service's entry point."""
    handler = TurnBatchedHandler(sys.stderr)
    handler.setFormatter(
        OrjsonFormatter(
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
