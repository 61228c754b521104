"""Standard Webhooks signing: secrets, body, and the webhook-* headers of one attempt."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from inlet_common import exactjson

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """whsec_ + base64 of 32 random bytes (the Standard Webhooks / Svix form)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def body(event_type: str, occur_time: datetime, data: dict[str, Any]) -> bytes:
    """`{type, timestamp, data}`: the same bytes on every attempt of an event."""
    stamp = occur_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return exactjson.dumps({"type": event_type, "timestamp": stamp, "data": data})


def headers(
    message_id: str, payload: bytes, signing_secrets: Sequence[str], now: datetime
) -> dict[str, str]:
    """webhook-id, webhook-timestamp and webhook-signature (one `v1,…` per secret)."""
    text = payload.decode()
    signatures = [Webhook(s).sign(message_id, now, text) for s in signing_secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }
