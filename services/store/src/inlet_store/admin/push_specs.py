"""Push sessions as the admin API sets and shows them: types, webhook options, what an
update may change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inlet_common import pushwebhooks
from inlet_common.errors import Violation
from inlet_store.push_standard import upsert_keys

UPDATABLE = (
    "display_name",
    "default_region",
    "types",
    "data_webhook",
    "completed_webhook",
    "error_webhook",
)


@dataclass(frozen=True)
class TypeSpec:
    """A session type as asked for: entity type slug ("" for a standard type's own)."""

    endgrate_type: str
    entity_type: str = ""
    field_map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionSpec:
    display_name: str = ""
    default_region: str = ""
    types: tuple[TypeSpec, ...] = ()
    webhooks: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # data → option


@dataclass(frozen=True)
class SessionType:
    endgrate_type: str
    entity_type_id: str
    entity_type: str
    field_map: dict[str, str]

    @property
    def upsert_keys(self) -> tuple[str, ...]:
        return upsert_keys(self.endgrate_type) if self.entity_type == self.endgrate_type else ()


@dataclass(frozen=True)
class Session:
    id: str
    workspace_id: str
    display_name: str
    default_region: str
    webhooks: dict[str, dict[str, Any] | None]
    webhook_endpoint_id: str
    create_time: datetime
    types: tuple[SessionType, ...]


def check_webhooks(
    given: dict[str, Any], prefix: str
) -> tuple[dict[str, dict[str, Any] | None], list[Violation]]:
    """The webhook options of a session (data, completed, error), each checked."""
    found: dict[str, dict[str, Any] | None] = {}
    problems: list[Violation] = []
    for name, short in pushwebhooks.OPTIONS.items():
        if short not in given:
            continue
        option, bad_fields = pushwebhooks.webhook_option(f"{prefix}{name}", given[short])
        found[short] = option
        problems += bad_fields
    return found, problems
