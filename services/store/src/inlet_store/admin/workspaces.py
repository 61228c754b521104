"""A workspace named by id or slug, looked up the same way by every admin use case."""

from __future__ import annotations

from inlet_common.errors import NotFound
from inlet_store import repository as repo


async def workspace_id(conn: repo.Conn, key: str) -> str:
    """The id of workspace `key` (its id or slug); NOT_FOUND WORKSPACE_NOT_FOUND otherwise."""
    found = await repo.row(conn, "workspace_by_key", key=key)
    if found is None:
        raise NotFound(f"no workspace {key!r}", reason="WORKSPACE_NOT_FOUND")
    return str(found["id"])
