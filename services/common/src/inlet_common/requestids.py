"""Request ids: one made per request at the edge, carried between services as gRPC metadata."""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from inlet_common import logs, tracing

# gRPC metadata keys. x-request-id is inlet's id of the request; x-client-request-id is
# the caller's own X-Request-Id, kept beside it as a correlation id and never used as ours.
REQUEST_ID_KEY = "x-request-id"
CLIENT_REQUEST_ID_KEY = "x-client-request-id"

# What a carried id may look like: enough for our ids, UUIDs and most clients' own ids,
# and nothing that could break a header, a log line or a query.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def new_request_id() -> str:
    """The one generator of request ids: `req_` and 26 base32 characters (128 random bits)."""
    return "req_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def well_formed(value: str | bytes | None) -> str | None:
    """`value` when it is safe to carry as an id (1 to 128 of A-Z a-z 0-9 . _ : -), else None."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return text if _WELL_FORMED.fullmatch(text) else None


def from_metadata(metadata: Iterable[tuple[str, Any]] | None) -> tuple[str, str]:
    """(request id, client request id) of an incoming call. A call without a well-formed
    x-request-id (a direct gRPC caller) gets a new id; the client's id may be empty."""
    request_id = client_request_id = None
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and request_id is None:
            request_id = well_formed(value)
        elif key == CLIENT_REQUEST_ID_KEY and client_request_id is None:
            client_request_id = well_formed(value)
    return request_id or new_request_id(), client_request_id or ""


def outgoing() -> tuple[tuple[str, str], ...]:
    """Metadata that carries the current request's ids (and trace) to the next service."""
    request_id, client_request_id = logs.request_id.get(), logs.client_request_id.get()
    carried: list[tuple[str, str]] = []
    if request_id:
        carried.append((REQUEST_ID_KEY, request_id))
    if client_request_id:
        carried.append((CLIENT_REQUEST_ID_KEY, client_request_id))
    # The trace goes along too (W3C traceparent; nothing when tracing is off).
    carried.extend(tracing.outgoing())
    return tuple(carried)


@contextlib.contextmanager
def bound(request_id: str, client_request_id: str = "") -> Iterator[None]:
    """Make `request_id` (and the client's) current: on log lines and outgoing calls."""
    token = logs.request_id.set(request_id)
    client_token = logs.client_request_id.set(client_request_id)
    try:
        yield
    finally:
        logs.client_request_id.reset(client_token)
        logs.request_id.reset(token)
