"""OpenTelemetry traces: off (the API's no-op) unless OTLP is configured; W3C traceparent
carried in gRPC metadata, on outbox events and on webhooks, the request id on every span."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

# The attribute every inlet span carries: the request id its client was answered with.
REQUEST_ID_ATTRIBUTE = "inlet.request_id"
TRACEPARENT_KEY = "traceparent"
TRACESTATE_KEY = "tracestate"

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER = trace.get_tracer("inlet")
_enabled = False


def enabled() -> bool:
    """Whether spans are recorded in this process (configure() installed an exporter)."""
    return _enabled


def _wanted(environ: Mapping[str, str]) -> str | None:
    """The exporter the standard OTEL_* variables ask for: "otlp", "console" or None."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "console":
        return "console"
    if exporter not in ("", "otlp"):
        # "none", or one this build does not ship: nothing is exported, say so once.
        if exporter != "none":
            log.warning("OTEL_TRACES_EXPORTER %r is not supported; tracing is off", exporter)
        return None
    configured = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not configured and exporter != "otlp":
        return None
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    )
    if protocol.strip().lower() != "grpc":
        # Sending gRPC to an OTLP/HTTP port would fail on every export: refuse it plainly.
        log.warning("OTLP protocol %r is not supported (grpc only); tracing is off", protocol)
        return None
    return "otlp"


def configure(
    service: str, environ: Mapping[str, str] | None = None, *, exporter: Any = None
) -> bool:
    """Install the SDK's tracer provider for `service` when the environment asks for it
    (OTEL_EXPORTER_OTLP_ENDPOINT or …_TRACES_ENDPOINT, OTEL_TRACES_EXPORTER; the exporter,
    batching, sampler and resource read their own OTEL_* variables), or with `exporter`
    (tests: an in-memory one, spans exported as they end). Returns whether tracing is on."""
    global _enabled
    kind = "given" if exporter is not None else _wanted(os.environ if environ is None else environ)
    if kind is None:
        return False
    # Imported only when wanted: a service with tracing off never loads the SDK.
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"inlet-{service}"}))
    if kind == "given":
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif kind == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    global _TRACER
    _TRACER = provider.get_tracer("inlet")
    _enabled = True
    log.info("tracing on", extra={"exporter": kind})
    return True


def _carrier(metadata: Iterable[tuple[str, Any]] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in metadata or ():
        if key in (TRACEPARENT_KEY, TRACESTATE_KEY) and isinstance(value, str):
            found.setdefault(key, value)
    return found


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Iterable[tuple[str, Any]] | Mapping[str, str] | None = None,
    links_from: Iterable[str] = (),
    request_id: str = "",
) -> Iterator[Span | None]:
    """A span named `name`, current inside the block (None and no cost when tracing is
    off). `parent`: a carrier (gRPC metadata pairs or a mapping) holding a traceparent to
    continue; without one the span is a child of the current one. `links_from`: W3C
    traceparents the span links to (not continues)."""
    if not _enabled:
        yield None
        return
    pairs = parent.items() if isinstance(parent, Mapping) else parent
    ctx = _PROPAGATOR.extract(_carrier(pairs)) if parent is not None else None
    links = [
        trace.Link(found) for value in links_from if (found := span_context_of(value)) is not None
    ]
    # Failure is the caller's call (tracing.fail): an aborted RPC with INVALID_ARGUMENT
    # raises through here, and is an answer, not a fault.
    with _TRACER.start_as_current_span(
        name,
        context=ctx,
        kind=kind,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        if request_id:
            current.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
        yield current


def span_context_of(traceparent: str) -> trace.SpanContext | None:
    """The remote span context a W3C traceparent names; None when it is not one."""
    found = trace.get_current_span(_PROPAGATOR.extract({TRACEPARENT_KEY: traceparent}))
    context = found.get_span_context()
    return context if context.is_valid else None


def fail(current: Span | None, description: str) -> None:
    """Mark a span failed (an error answer, not an exception)."""
    if current is not None:
        current.set_status(Status(StatusCode.ERROR, description))


def outgoing() -> tuple[tuple[str, str], ...]:
    """traceparent (and tracestate) of the current span, for the next hop's metadata or
    headers; empty when tracing is off or no span is current."""
    if not _enabled:
        return ()
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return tuple(carrier.items())


def traceparent() -> str | None:
    """The current span's W3C traceparent (stored with outbox events), or None."""
    for key, value in outgoing():
        if key == TRACEPARENT_KEY:
            return value
    return None


def trace_id() -> str | None:
    """The current trace's id, 32 hex digits (stored with activity entries), or None."""
    if not _enabled:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
