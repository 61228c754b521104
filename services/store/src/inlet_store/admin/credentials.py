"""One way to manage every hashed credential of the admin API — ingest keys, project and
client tokens, push API keys: listed newest first, revoked, rotated with a grace period,
with the same rules and errors for each type.

Each type's named queries follow one pattern: insert_<stem>, list_<stem>s, get_<stem>,
revoke_<stem> and expire_<stem>, scoped by its owner column (a workspace or a stream)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import FailedPrecondition, InvalidArgument, NotFound, Violation
from inlet_store import repository as repo

Row = dict[str, Any]
# Inserts a credential like `old` (None: a new one): the row and its whole secret.
Insert = Callable[[repo.Conn, Row], Awaitable[tuple[Row, str]]]

MAX_GRACE_SECONDS = 7 * 86400


@dataclass(frozen=True)
class CredentialType:
    noun: str  # in messages: "ingest key"
    stem: str  # of its named queries: "ingest_key"
    owner: str  # the queries' owner parameter: "workspace_id" or "stream_id"
    collection: str  # of its resource names and page tokens: "ingestKeys"

    @property
    def reason(self) -> str:
        return self.stem.upper()

    def not_found(self, key_id: str) -> NotFound:
        return NotFound(f"no {self.noun} {key_id!r}", reason=f"{self.reason}_NOT_FOUND")


INGEST_KEY = CredentialType("ingest key", "ingest_key", "stream_id", "ingestKeys")
PROJECT_TOKEN = CredentialType("project token", "project_token", "workspace_id", "projectTokens")
CLIENT_TOKEN = CredentialType("client token", "client_token", "workspace_id", "clientTokens")
API_KEY = CredentialType("API key", "api_key", "workspace_id", "apiKeys")


def check_grace(field: str, seconds: float) -> None:
    """A rotation's grace period: from 0 (the old secret stops now) to 7 days."""
    if not 0 <= seconds <= MAX_GRACE_SECONDS:
        message = f"{field} must be between 0 and 7 days, got {seconds:g}s"
        raise InvalidArgument(message, violations=[Violation(field, message, "OUT_OF_RANGE")])


class Credentials:
    """The admin use cases of one credential type, on a connection the caller holds."""

    def __init__(self, kind: CredentialType) -> None:
        self.kind = kind

    def page_tokens(self, *scope: str) -> PageTokens:
        return PageTokens(self.kind.collection, *scope)

    async def page(
        self,
        conn: repo.Conn,
        owner_id: str,
        tokens: PageTokens,
        limit: int,
        cursor: list[str | int] | None,
    ) -> tuple[list[Row], str]:
        """A page of the owner's credentials, newest first."""
        found = await repo.rows(
            conn,
            f"list_{self.kind.stem}s",
            before=paging.as_time(cursor[0]) if cursor else None,
            limit=limit + 1,
            **{self.kind.owner: owner_id},
        )
        return tokens.page(found, limit, lambda r: (r["create_time"],))

    async def get(self, conn: repo.Conn, owner_id: str, key_id: str) -> Row:
        found = await repo.row(
            conn, f"get_{self.kind.stem}", id=key_id, **{self.kind.owner: owner_id}
        )
        if found is None:
            raise self.kind.not_found(key_id)
        return found

    async def revoke(self, conn: repo.Conn, owner_id: str, key_id: str) -> Row:
        """Revoke it (again: a no-op keeping the first revoke time)."""
        found = await repo.row(
            conn, f"revoke_{self.kind.stem}", id=key_id, **{self.kind.owner: owner_id}
        )
        if found is None:
            raise self.kind.not_found(key_id)
        return found

    async def rotate(
        self,
        conn: repo.Conn,
        owner_id: str,
        key_id: str,
        grace_seconds: float,
        grace_field: str,
        insert: Insert,
    ) -> tuple[Row, str, Row]:
        """(The new credential, its secret, the old one with its expiry): the old one works
        for `grace_seconds` more. Call it in a transaction."""
        check_grace(grace_field, grace_seconds)
        old = await self.get(conn, owner_id, key_id)
        if old["revoke_time"] is not None:
            raise FailedPrecondition(
                f"{self.kind.noun} {key_id} is revoked; create a new one",
                reason=f"{self.kind.reason}_REVOKED",
            )
        previous = await repo.row(
            conn,
            f"expire_{self.kind.stem}",
            id=key_id,
            grace_seconds=grace_seconds,
            **{self.kind.owner: owner_id},
        )
        assert previous is not None
        created, secret = await insert(conn, old)
        return created, secret, previous
