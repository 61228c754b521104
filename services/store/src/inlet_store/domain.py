"""The store's domain objects: schema, endpoints, planned records and outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FIELD_TYPES = ("text", "email", "phone", "number", "integer", "boolean", "datetime", "reference")


@dataclass(frozen=True)
class FieldDef:
    slug: str
    display_name: str
    type: str
    unique: bool = False
    required: bool = False
    reference_entity_type: str = ""  # slug of the referenced type
    reference_entity_type_id: str | None = None


@dataclass(frozen=True)
class EntityTypeDef:
    id: str
    workspace_id: str
    slug: str
    display_name: str
    fields: tuple[FieldDef, ...] = ()


@dataclass(frozen=True)
class ResolvedEndpoint:
    id: str
    workspace_id: str
    default_region: str
    entity_type: EntityTypeDef
    referenced: dict[str, EntityTypeDef]  # reference-field slug → referenced type
    rate_limit: int  # pushes per window
    rate_window_seconds: int
    enabled: bool = True


# The per-item objects below are made a thousand times for one stream request: slotted and
# not frozen, as a frozen dataclass's __init__ costs twice as much. Nothing mutates them.
@dataclass(slots=True)
class PlannedRecord:
    entity_type_id: str
    values: dict[str, Any]
    unique_fields: tuple[str, ...] = ()
    missing_required: tuple[str, ...] = ()
    references: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    id: str
    action: str  # "created" | "updated"
    matched_on: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "action": self.action}
        if self.matched_on:
            body["matched_on"] = list(self.matched_on)
        return body


@dataclass(frozen=True)
class Applied:
    """What a push did; replayed: what the push that first used its Idempotency-Key did."""

    record: Outcome
    related: dict[str, Outcome]
    replayed: bool = False

    def summary(self) -> dict[str, Any]:
        """The JSON kept in the activity log and as the stored idempotent answer."""
        return {
            "record": self.record.as_json(),
            "related": {slug: o.as_json() for slug, o in self.related.items()},
        }

    @classmethod
    def replay_of(cls, summary: dict[str, Any]) -> Applied:
        def outcome(body: dict[str, Any]) -> Outcome:
            return Outcome(body["id"], body["action"], tuple(body.get("matched_on", ())))

        return cls(
            record=outcome(summary["record"]),
            related={slug: outcome(o) for slug, o in summary.get("related", {}).items()},
            replayed=True,
        )


@dataclass(frozen=True)
class Workspace:
    id: str
    slug: str
    display_name: str


@dataclass(frozen=True)
class Endpoint:
    id: str
    workspace_id: str
    display_name: str
    entity_type: str
    enabled: bool
    default_region: str
    create_time: datetime
    rate_limit: int  # pushes allowed per window
    rate_window_seconds: int
    previous_token_expire_time: datetime | None = None


@dataclass(frozen=True)
class ActivityEntry:
    id: int
    request_id: str
    status_code: int
    outcome: dict[str, Any]
    create_time: datetime
    previous_token: bool = False
    client_request_id: str = ""
    # The request's trace (32 hex digits), when tracing was on.
    trace_id: str = ""


@dataclass(frozen=True)
class StoredRecord:
    id: str
    workspace_id: str
    entity_type: str
    values: dict[str, Any]
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class DialectActivity:
    """One dialect's requests in a window (the console's overview)."""

    dialect: str
    request_count: int
    error_count: int
    last_request_time: datetime | None
    source_count: int


@dataclass(frozen=True)
class RecordRequest:
    """A request that wrote a record: where it came from and what it did to it."""

    request_id: str
    dialect: str
    # Resource name of the endpoint or stream.
    source: str
    action: str
    entity: str
    create_time: datetime
