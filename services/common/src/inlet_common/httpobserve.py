"""The HTTP edge's one observing middleware: request counts and latency by route template,
and the server span every onward call continues (its request id as an attribute)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram

from inlet_common import tracing

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Any ASGI app (its own message types may be narrower than these).
App = Callable[..., Awaitable[None]]

# The app names the matched route's template here (never the path: an endpoint push's
# path is its secret); requests that matched none are counted as "unmatched".
ROUTE_SCOPE_KEY = "inlet.route"
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "inlet_gateway_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    "inlet_gateway_request_seconds", "HTTP handling time, to the last byte", ["route"]
)


class ObservedApp:
    """Wraps an ASGI app: every HTTP request counted, timed and (tracing on) spanned."""

    def __init__(self, app: App) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        # The wrapped app's own API (aclose(), routes, …) stays reachable.
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = str(scope.get("method", ""))
        answered: dict[str, Any] = {"status": 0, "request_id": ""}

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = int(message["status"])
                for name, value in message.get("headers", ()):
                    if name == b"x-request-id":
                        answered["request_id"] = value.decode("latin-1")
            await send(message)

        # A client's traceparent is linked, not continued: who calls the edge does not
        # choose our trace ids or sampling.
        client_parent = _header(scope, b"traceparent")
        with tracing.span(
            f"HTTP {method}",
            kind=SpanKind.SERVER,
            parent={},
            links_from=[client_parent] if client_parent else (),
        ) as current:
            try:
                await self.app(scope, receive, observed_send)
            finally:
                route = str(scope.get(ROUTE_SCOPE_KEY) or UNMATCHED)
                status = answered["status"]
                if current is not None:
                    current.update_name(f"{method} {route}")
                    current.set_attribute("http.request.method", method)
                    current.set_attribute("http.route", route)
                    current.set_attribute("http.response.status_code", status)
                    if answered["request_id"]:
                        current.set_attribute(tracing.REQUEST_ID_ATTRIBUTE, answered["request_id"])
                    if status >= 500 or status == 0:
                        tracing.fail(current, f"HTTP {status}")
                # No answer sent (the client went away): counted as status 0.
                REQUESTS.labels(route, method, str(status)).inc()
                REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""
