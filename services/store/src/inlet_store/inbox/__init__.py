"""The durable inbox every asynchronous dialect shares: accept, claim (batched, long-polled),
apply items exactly once, report status."""

from inlet_store.inbox.accepting import body_hash, invalid_message
from inlet_store.inbox.requests import Inbox, item_outcomes
from inlet_store.inbox.sources import INTEGRATION, STREAM, entity_type_of
from inlet_store.inbox.types import (
    Accepted,
    InboxRow,
    ItemOutcome,
    Rejection,
    RequestStatus,
    Source,
    StreamItem,
    StreamSchema,
)

__all__ = [
    "INTEGRATION",
    "STREAM",
    "Accepted",
    "Inbox",
    "InboxRow",
    "ItemOutcome",
    "Rejection",
    "RequestStatus",
    "Source",
    "StreamItem",
    "StreamSchema",
    "body_hash",
    "entity_type_of",
    "invalid_message",
    "item_outcomes",
]
