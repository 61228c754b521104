"""Request body caps per RPC, enforced before the body is parsed (or even fully read)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

# Keyed by the RPC's full name, so every HTTP binding of one RPC shares its cap.
MAX_BODY_BYTES: Mapping[str, int] = {
    # The endpoint-push seed: "413 Payload exceeds 100 KB".
    "inlet.ingest.v1.IngestService.PushEndpoint": 100 * 1024,
    # The stream-ingest seed: "413 PAYLOAD_TOO_LARGE: Request body exceeds 1 MB".
    "inlet.ingest.v1.IngestService.IngestStream": 1024 * 1024,
    # The push-transfer seed states none: 2 MB, well inside gRPC's 4 MB message limit
    # (the items cross two hops), and hundreds of contacts with their companies.
    "inlet.ingest.v1.IngestService.PushTransfer": 2 * 1024 * 1024,
    # Integration ingest: 1 MiB at most; an integration may set less (judged by the store).
    "inlet.ingest.v1.ExternalIngestService.IngestData": 1024 * 1024,
    # A contact form is small; anything larger is not one.
    "inlet.ingest.v1.ExternalIngestService.SubmitForm": 64 * 1024,
}

Receive = Callable[[], Awaitable[dict[str, Any]]]


class BodyTooLarge(Exception):
    """The body is, or announces itself to be, larger than the RPC's cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.message = f"request body exceeds the {describe(limit)} limit ({limit} bytes)"
        super().__init__(self.message)


class ClientDisconnected(Exception):
    """The client went away before its body was read; nobody is left to answer."""


def body_limit(method_full_name: str) -> int:
    """The body cap, in bytes, of an RPC such as inlet.ingest.v1.IngestService.PushEndpoint."""
    return MAX_BODY_BYTES.get(method_full_name, DEFAULT_MAX_BODY_BYTES)


def describe(limit: int) -> str:
    """A cap as the seeds spell it: "100 KB", "1 MB" (binary multiples, as they mean)."""
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KB"
    return f"{limit} bytes"


def body_timeout_message(seconds: float) -> str:
    """The 408's message for a body not received within `seconds` (Envoy's is generated
    from this one)."""
    return f"the request body was not received within {seconds:g}s"


def check_declared(content_length: bytes | None, limit: int) -> None:
    """Reject at once when Content-Length announces more than `limit`."""
    if content_length is None:
        return
    text = content_length.strip()
    # The HTTP parser has already refused malformed lengths; be defensive anyway.
    if text.isdigit() and int(text) > limit:
        raise BodyTooLarge(limit)


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body; stops reading as soon as it passes `limit` (chunked or lying clients)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk: bytes = event.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not event.get("more_body", False):
            return b"".join(chunks)
