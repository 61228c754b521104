"""What of a client's request crosses to a service: its headers as gRPC metadata."""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

from inlet_common import requestids
from inlet_common.edge import CONTENT_TYPE_KEY
from inlet_gateway import edge_headers
from inlet_gateway.answers import Metadata

log = logging.getLogger(__name__)

PRINTABLE = re.compile(r"[\x20-\x7e]*")

# Client headers that become gRPC metadata: credentials and push options. Nothing else
# crosses, so a client cannot pose as the edge (x-inlet-*) or choose our request id (its
# X-Request-Id travels as x-client-request-id, set by metadata_of, not copied from here).
FORWARDED_HEADERS: dict[bytes, str] = {
    b"authorization": "authorization",
    b"idempotency-key": "idempotency-key",
    b"x-item-key": "x-item-key",
    b"x-stream": "x-stream",
    b"x-client-token": "x-client-token",
    # Where a reconnecting EventSource resumes a feed.
    b"last-event-id": "last-event-id",
    # The external form checks it against its client token's allowed origins.
    b"origin": "origin",
    # gRPC replaces a user-agent entry with its own, so the client's travels under this key.
    b"user-agent": "x-forwarded-user-agent",
    # The media type as sent: the service's twin judges it, as behind Envoy.
    b"content-type": CONTENT_TYPE_KEY,
}
CLIENT_ADDRESS_KEY = "x-forwarded-for"


def client_request_id(headers: dict[bytes, bytes]) -> str:
    """The client's X-Request-Id when well-formed, else "": its correlation id, kept beside
    ours and never used as ours."""
    return requestids.well_formed(headers.get(b"x-request-id")) or ""


def metadata_of(scope: MutableMapping[str, Any], headers: dict[bytes, bytes]) -> Metadata:
    """The request ids (bound by the caller), then the forwarded headers."""
    metadata: Metadata = list(requestids.outgoing())
    for name, value in scope["headers"]:
        key = FORWARDED_HEADERS.get(name.lower())
        if key is None:
            continue
        text = edge_headers.forwarded(name.lower(), value.decode("latin-1"))
        # gRPC refuses non-printable metadata values; never log the value (credentials).
        if not PRINTABLE.fullmatch(text):
            log.info("header dropped: not printable ASCII", extra={"header": key})
            continue
        metadata.append((key, text))
    client = scope.get("client")
    if client:
        metadata.append((CLIENT_ADDRESS_KEY, str(client[0])))
    return metadata


def ascii_metadata(text: str, limit: int = 1024) -> str:
    cleaned = text.encode("ascii", "backslashreplace").decode("ascii")
    cleaned = re.sub(r"[^\x20-\x7e]", " ", cleaned)
    return cleaned[:limit]
