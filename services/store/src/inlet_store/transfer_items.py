"""A push transfer's items as the store applies them: planned entities, context, results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inlet_common.errors import (
    InletError,
    NotFound,
)
from inlet_store.domain import PlannedRecord

DATA, COMPLETED, ERROR = "push.data", "push.completed", "push.error"
TRANSFER_DATA, INTERNAL = "transfer_data", "internal"


class UnknownId(NotFound):
    reason = "UNKNOWN_ID"


@dataclass(frozen=True)
class PushEntity:
    """One planned record of an item: the item itself or one of its associations."""

    endgrate_type: str
    path: str
    record: PlannedRecord
    id: str = ""
    internal_id: str = ""


@dataclass(frozen=True)
class PushItem:
    index: int
    internal_id: str = ""
    entity: PushEntity | None = None
    associations: tuple[PushEntity, ...] = ()
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class TransferContext:
    """What applying a transfer's items needs: its session, options and webhooks."""

    id: str
    workspace_id: str
    session_id: str
    endgrate_type: str
    request_id: str
    items_received: int
    disable_upsert: bool
    sample: bool
    concurrency: bool
    webhooks: dict[str, dict[str, Any]]
    signer_id: str  # the session's webhook endpoint
    field_maps: dict[str, dict[str, str]]  # endgrate type → endgrate field → entity slug
    # Standard types written to their ready-made entity types: they have default keys.
    standard: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, row: dict[str, Any], field_maps: dict[str, dict[str, str]], standard: frozenset[str]
    ) -> TransferContext:
        return cls(
            id=row["id"],
            workspace_id=str(row["workspace_id"]),
            session_id=row["session_id"],
            endgrate_type=row["endgrate_type"],
            request_id=row["request_id"],
            items_received=row["items_received"],
            disable_upsert=row["disable_upsert"],
            sample=row["sample_data"],
            concurrency=row["webhook_concurrency"],
            webhooks=dict(row["webhooks"] or {}),
            signer_id=str(row["webhook_endpoint_id"] or ""),
            field_maps=field_maps,
            standard=standard,
        )

    @property
    def source(self) -> dict[str, str]:
        return {
            "type": "push_transfer",
            "id": self.session_id,
            "transfer_id": self.id,
            "request_id": self.request_id,
        }

    def returned(self, endgrate_type: str, stored: dict[str, Any]) -> dict[str, Any]:
        """A record's values by endgrate field name (what GET /api/push/data returns)."""
        names = {slug: name for name, slug in self.field_maps.get(endgrate_type, {}).items()}
        return {names.get(slug, slug): value for slug, value in stored.items()}


@dataclass
class ItemResult:
    index: int
    internal_id: str
    action: str  # created | updated | failed
    record_id: str = ""
    matched_on: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    associations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        return {
            "item_index": self.index,
            "action": self.action,
            "record_id": self.record_id or None,
            "internal_id": self.internal_id or None,
            "data": self.data,
            "associations": self.associations,
            "error": self.error,
        }

    def inbox_row(self) -> dict[str, Any]:
        return {
            "item_index": self.index,
            "record_id": self.record_id or None,
            "action": self.action,
            "matched_on": list(self.matched_on),
            "error": self.error,
            "superseded_by": None,
            "related": None,
        }

    def returned(self) -> dict[str, Any]:
        """The item as the data webhook and GET /api/push/data show it."""
        found: dict[str, Any] = {"index": self.index, "id": self.record_id}
        if self.internal_id:
            found["internal_id"] = self.internal_id
        found["data"] = self.data
        if self.associations:
            found["associations"] = self.associations
        return found


def error_body(error: InletError, error_type: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error_type": error_type,
        "code": error.reason,
        "message": error.message,
    }
    if error.violations:
        body["fields"] = [v.as_json() for v in error.violations]
    return body
