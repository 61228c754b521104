"""Edge rules on request headers (size caps, media type) and the headers every answer gets.

Caps live here, at the edge, because gRPC refuses metadata past its own limits with a
RESOURCE_EXHAUSTED that says nothing a client can act on: a header block too large for any
server is a 431, and a forwarded header longer than its cap crosses cut to one character
past the cap, so the service refuses it by name in its dialect (Idempotency-Key: 400
INVALID_IDEMPOTENCY_KEY or the dialect's code with TOO_LONG; X-Item-Key: UNKNOWN_FIELD;
X-Stream: STREAM_NOT_FOUND; Last-Event-ID: INVALID_PAYLOAD; a credential: 401) and logs
the attempt, without the whole value crossing. Envoy's Lua filter applies the same rules,
generated from these tables (tools/envoy_replies.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from inlet_common import idempotency
from inlet_common.errors import InletError, ResourceExhausted
from inlet_gateway.limits import describe

# The whole header block, names and values (Envoy's max_request_headers_kb is set to match).
MAX_HEADER_BLOCK_BYTES = 64 * 1024
# Without the block's size: Envoy measures the block as it received it (without the
# connection-level headers its codec consumes), so a count would differ by a few bytes.
HEADER_BLOCK_MESSAGE = (
    f"the request's headers exceed the {describe(MAX_HEADER_BLOCK_BYTES)} limit"
    f" ({MAX_HEADER_BLOCK_BYTES} bytes)"
)

# Forwarded headers (they become gRPC metadata) and the most each may carry. Their sum,
# with the edge's own metadata, stays well inside gRPC's 8 KiB soft metadata limit.
HEADER_CAPS: Mapping[bytes, int] = {
    b"authorization": 1024,
    b"idempotency-key": idempotency.MAX_KEY_LENGTH,
    b"x-item-key": 256,
    b"x-stream": 256,
    b"x-client-token": 1024,
    b"origin": 1024,
    b"content-type": 256,
    # A feed position: at most 18 digits (the store refuses a longer one by name).
    b"last-event-id": 64,
}
# Forwarded for information only: cut to this length (nothing judges it).
INFORMATIONAL_CAPS: Mapping[bytes, int] = {b"user-agent": 512}

# Answers every route gets: no MIME sniffing of JSON into something a browser runs.
NOSNIFF = (b"x-content-type-options", b"nosniff")
# API answers are never stored by a cache (they carry secrets, admin data, live outcomes).
NO_STORE = (b"cache-control", b"no-store")


class HeaderBlockTooLarge(ResourceExhausted):
    # 431 by its reason (inlet_common.httpstatus), not the 429 of RESOURCE_EXHAUSTED.
    reason = "REQUEST_HEADER_FIELDS_TOO_LARGE"


def header_block_size(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """Bytes of the header block as sent: name, ": ", value and CRLF per field."""
    return sum(len(name) + len(value) + 4 for name, value in headers)


def check_block(headers: Sequence[tuple[bytes, bytes]]) -> InletError | None:
    size = header_block_size(headers)
    if size <= MAX_HEADER_BLOCK_BYTES:
        return None
    return HeaderBlockTooLarge(HEADER_BLOCK_MESSAGE)


def forwarded(name: bytes, text: str) -> str:
    """A forwarded header's value as it crosses: whole when within its cap, else cut to one
    past the cap (still too long for the service, which refuses it by name)."""
    cap = HEADER_CAPS.get(name)
    if cap is not None:
        return text[: cap + 1]
    informational = INFORMATIONAL_CAPS.get(name)
    return text if informational is None else text[:informational]
