"""Response metadata every dialect sends: rate-limit fields and Idempotency-Replayed."""

from __future__ import annotations

from inlet.store.v1 import store_pb2
from inlet_common.errors import InletError, UpstreamError, unpack

REPLAYED = ("idempotency-replayed", "true")


def rate_headers(state: store_pb2.RateLimitState, *, limited: bool) -> list[tuple[str, str]]:
    """IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) as metadata."""
    headers = [
        ("ratelimit-limit", str(state.limit)),
        ("ratelimit-remaining", str(state.remaining)),
        ("ratelimit-reset", str(state.reset_seconds)),
        ("ratelimit-policy", f"{state.limit};w={state.window_seconds}"),
    ]
    if limited:
        headers.append(("retry-after", str(max(1, state.reset_seconds))))
    return headers


def rate_state_of(error: InletError) -> store_pb2.RateLimitState | None:
    if not isinstance(error, UpstreamError):
        return None
    for state in unpack(error.status, store_pb2.RateLimitState):
        assert isinstance(state, store_pb2.RateLimitState)
        return state
    return None
