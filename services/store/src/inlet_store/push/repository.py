"""The push repository: its port, and the PostgreSQL adapter running push.sql's queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from psycopg_pool import AsyncConnectionPool

from inlet_common.sqlfiles import NamedQueries
from inlet_store import repository as repo
from inlet_store.domain import ResolvedEndpoint
from inlet_store.errors import wrap_exceptions

PUSH = NamedQueries("inlet_store.push", "sql")


@dataclass(frozen=True)
class Schema:
    """An endpoint as pushes are planned against it, and that schema's version."""

    version: str
    endpoint: ResolvedEndpoint


@dataclass(frozen=True)
class FailureEntry:
    """A push refused while it was applied: its activity entry and ingest.failed event."""

    endpoint_id: str
    workspace_id: str
    request_id: str
    client_request_id: str
    status_code: int
    outcome: bytes  # JSON


class PushRepository(Protocol):
    async def commit(self, pushes: list[bytes], attempts: int) -> list[dict[str, Any]]:
        """Each push (a JSON document, see push_commit_one) answered, in one transaction."""
        ...

    async def log_failures(self, entries: list[FailureEntry]) -> None: ...

    async def schema(self, token_hash: bytes) -> Schema | None: ...


class PgPushRepository:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def commit(self, pushes: list[bytes], attempts: int) -> list[dict[str, Any]]:
        # The batch goes as one JSON array made of the pushes' own bytes (no re-encoding).
        batch = b"[" + b",".join(pushes) + b"]"
        async with wrap_exceptions(), self.pool.connection() as conn:
            cur = await conn.execute(
                PUSH.sql["commit_pushes"], {"pushes": batch.decode(), "attempts": attempts}
            )
            return [orjson.loads(r[0]) for r in await cur.fetchall()]

    async def log_failures(self, entries: list[FailureEntry]) -> None:
        async with wrap_exceptions(), self.pool.connection() as conn:
            await PUSH.execute(
                conn,
                "log_push_failures",
                endpoint_ids=[e.endpoint_id for e in entries],
                workspace_ids=[e.workspace_id for e in entries],
                request_ids=[e.request_id for e in entries],
                client_request_ids=[e.client_request_id for e in entries],
                status_codes=[e.status_code for e in entries],
                outcomes=[e.outcome.decode() for e in entries],
            )

    async def schema(self, token_hash: bytes) -> Schema | None:
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await PUSH.rows(conn, "push_schema", token_hash=token_hash)
        if not found:
            return None
        return Schema(version=found[0]["version"], endpoint=repo.endpoint_of_rows(found))
