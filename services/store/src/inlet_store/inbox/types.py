"""The inbox's request and answer types: a request's source, its items, their outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inlet.store.v1 import store_pb2
from inlet_common.errors import Violation
from inlet_store.domain import EntityTypeDef, Outcome, PlannedRecord
from inlet_store.inbox.sources import STREAM, entity_type_of


@dataclass(frozen=True)
class StreamSchema:
    """What a stream's items are checked against before the 202; `version` changes with
    the entity type's fields and the stream's region."""

    version: str
    entity_type: EntityTypeDef
    default_region: str


@dataclass(frozen=True)
class Source:
    """What a request of the inbox came through: a stream's ingest key, or an integration
    and the project token that named it."""

    kind: str  # STREAM | INTEGRATION
    scope_id: str  # the stream's or the integration's id: where its Idempotency-Keys live
    name: str  # the stream's or the integration's id as callers write it
    key_id: str  # the credential's id
    workspace_id: str
    rate_subject: str
    rate_limit: int
    rate_window_seconds: int

    @property
    def route(self) -> str:
        """The connector log's route of its requests."""
        return "stream" if self.kind == STREAM else "data_ingestion"

    def columns(self) -> dict[str, str | None]:
        """Its ids as the inbox and the connector log store them."""
        stream = self.kind == STREAM
        return {
            "stream_id": self.scope_id if stream else None,
            # "" when the request named no integration of the token's workspace.
            "integration_id": None if stream else self.scope_id or None,
            "key_id": self.key_id if stream else None,
            "project_token_id": None if stream else self.key_id,
        }


@dataclass(frozen=True)
class KeyContext:
    key_id: str
    stream_id: str
    stream: str
    workspace_id: str
    rate_limit: int
    rate_window_seconds: int
    schema_version: str
    # The schema as the key's query describes it; made into a StreamSchema only when a
    # caller needs it (its version moved on), not on every accept.
    described_type: dict[str, Any]
    default_region: str

    @property
    def schema(self) -> StreamSchema:
        return StreamSchema(
            self.schema_version, entity_type_of(self.described_type), self.default_region
        )

    @property
    def source(self) -> Source:
        return Source(
            STREAM,
            self.stream_id,
            self.stream,
            self.key_id,
            self.workspace_id,
            self.key_id,
            self.rate_limit,
            self.rate_window_seconds,
        )


@dataclass(frozen=True)
class Rejection:
    """What the matcher (or the edge) found wrong with a body before it reached the store.

    `unread`: refused without being read as JSON (too large, not JSON), before the
    Idempotency-Key is looked at. `violations`: every bad field of a readable body (the
    first ones; `count` in all), which a live Idempotency-Key answers instead of.
    """

    unread: str = ""
    unread_reason: str = ""
    violations: tuple[Violation, ...] = ()
    count: int = 0


@dataclass(frozen=True)
class Accepted:
    request_id: str
    name: str  # the stream's or the integration's id
    items_received: int
    replayed: bool
    rate: store_pb2.RateLimitState


@dataclass(frozen=True)
class InboxRow:
    """What the inbox keeps of a request besides its source: a stream's items, or an
    integration's body as sent."""

    items_received: int
    items: list[Any] | None = None
    single: bool = False
    item_key: str = ""
    body: bytes | None = None
    content_type: str = ""


# Per item, made a thousand times for a request: slotted and not frozen (see PlannedRecord).
@dataclass(slots=True)
class StreamItem:
    index: int
    record: PlannedRecord | None = None
    error: dict[str, Any] | None = None
    superseded_by: int | None = None
    related: dict[str, PlannedRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestChunk:
    """Items of one leased request, to apply under its lease."""

    request_id: str
    lease_token: str
    lease_seconds: int
    workspace_id: str
    items: list[StreamItem]


@dataclass(slots=True)
class ItemOutcome:
    index: int
    action: str  # created | updated | superseded | failed
    record_id: str = ""
    matched_on: tuple[str, ...] = ()
    error: dict[str, Any] | None = None
    superseded_by: int | None = None
    related: dict[str, Outcome] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The outcome as the write statements read it (json_to_recordset): a key left out
        reads as NULL, and matched_on as empty, so a plain item's row carries only what it
        has (a third of the text that PostgreSQL parses for a created item)."""
        row: dict[str, Any] = {"item_index": self.index, "action": self.action}
        if self.record_id:
            row["record_id"] = self.record_id
        if self.matched_on:
            row["matched_on"] = list(self.matched_on)
        if self.error is not None:
            row["error"] = self.error
        if self.superseded_by is not None:
            row["superseded_by"] = self.superseded_by
        if self.related:
            row["related"] = {slug: o.as_json() for slug, o in self.related.items()}
        return row


@dataclass(frozen=True)
class RequestStatus:
    request_id: str
    stream: str
    status: str
    items_received: int
    items_processed: int
    items_failed: int
    create_time: datetime
    finish_time: datetime | None
    items: list[ItemOutcome] = field(default_factory=list)
