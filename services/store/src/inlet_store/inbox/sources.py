"""What an inbox request came through, and the entity type its claim describes."""

from __future__ import annotations

from typing import Any

from inlet_store import repository as repo
from inlet_store.domain import EntityTypeDef

STREAM = "stream"
INTEGRATION = "integration"


def entity_type_of(described: dict[str, Any]) -> EntityTypeDef:
    """An entity type as the stream queries describe it in one jsonb object."""
    return EntityTypeDef(
        id=str(described["id"]),
        workspace_id=str(described["workspace_id"]),
        slug=described["slug"],
        display_name=described["display_name"],
        fields=tuple(repo.field_def(f) for f in described["fields"]),
    )
