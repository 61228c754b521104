"""Client channels between services: one per upstream, with sane keepalive and retries."""

from __future__ import annotations

import json

import grpc

# No retryPolicy: a service answers UNAVAILABLE also when *its* upstream failed after
# the work may have been done (a commit whose answer was lost), and a policy would repeat
# such a push. gRPC still retries, transparently, calls that never reached the server.
# round_robin: behind a headless Service (one DNS name, N pods) each replica spreads its
# calls over every pod instead of sticking to the first address (pick_first).
_SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def channel(address: str, *, max_message_bytes: int = 4 * 1024 * 1024) -> grpc.aio.Channel:
    """An insecure channel to another inlet service (inside the trust boundary)."""
    return grpc.aio.insecure_channel(
        address,
        options=[
            ("grpc.service_config", _SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.keepalive_time_ms", 30_000),
            # gRPC's default reconnect backoff grows to 120 s: after an upstream restart
            # its callers would answer 503 long after it is back. Peers are on one network.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ],
    )
