"""A server-streaming call being answered as Server-Sent Events (inlet_common.sse)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import message


@dataclass
class Streaming:
    """A server-streaming call that answered its first message, to send as events: a twin's
    google.api.HttpBody chunks as they are, a typed call's messages rendered here; an error
    after it is rendered in the envelope of `rpc` (None: the default)."""

    call: Any
    first: message.Message
    rpc: str | None = None
