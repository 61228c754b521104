"""One call of a batched RPC run as if it had come alone: under its own request ids and
trace, with its own log line, answered with its response or its own google.rpc.Status."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.rpc import status_pb2
from opentelemetry.trace import SpanKind

from inlet_common import requestids, tracing
from inlet_common.errors import InletError

log = logging.getLogger(__name__)

R = TypeVar("R")


async def run_call(
    method: str,
    request_id: str,
    client_request_id: str,
    traceparent: str,
    handle: Callable[[], Awaitable[R]],
) -> R | status_pb2.Status:
    """`handle()` under the call's ids (a new request id when it carries none that is well
    formed) and a server span continuing `traceparent`, logged as the `method` it stands
    for; its error (or an internal one) is its answer, so the batch's other calls keep
    theirs."""
    request_id = requestids.well_formed(request_id) or requestids.new_request_id()
    client_id = requestids.well_formed(client_request_id) or ""
    parent = ((tracing.TRACEPARENT_KEY, traceparent),) if traceparent else None
    with requestids.bound(request_id, client_id):
        started = time.perf_counter()
        code = "OK"
        with tracing.span(
            method.lstrip("/"), kind=SpanKind.SERVER, parent=parent, request_id=request_id
        ) as span:
            try:
                return await handle()
            except InletError as error:
                code = error.code.name
                return error.to_status()
            except Exception:
                code = "INTERNAL"
                log.exception("unhandled error in %s", method)
                tracing.fail(span, code)
                return InletError("internal error").to_status()
            finally:
                if span is not None:
                    span.set_attribute("rpc.grpc.status_code", code)
                log.info(
                    "rpc",
                    extra={
                        "rpc": method,
                        "code": code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "batched": True,
                    },
                )
