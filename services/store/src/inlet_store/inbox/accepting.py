"""Accepting an inbox request: its key, rate limit, Idempotency-Key and connector log line."""

from __future__ import annotations

import logging
from typing import Any

from psycopg import errors as pg
from psycopg_pool import AsyncConnectionPool

from inlet.store.v1 import store_pb2
from inlet_common import idempotency, logs
from inlet_common.errors import InletError, Violation
from inlet_common.httpstatus import http_status_of
from inlet_store import guards
from inlet_store import repository as repo
from inlet_store.errors import wrap_exceptions
from inlet_store.inbox.sources import STREAM
from inlet_store.inbox.types import Accepted, InboxRow, KeyContext, Source
from inlet_store.streams import (
    IdempotencyKeyInUse,
    IngestUnauthorized,
    ParsedKey,
    RequestIdInUse,
    parse_key,
    secret_matches,
)

log = logging.getLogger(__name__)

# A claimed Idempotency-Key is settled by the accept in the same breath; one still
# 'accepting' this long after its claim lost its store, and a retry may take it over.
ACCEPT_LEASE_SECONDS = 30
# Bad fields named in INVALID_PAYLOAD's message (its details list them).
_MESSAGE_FIELDS = 3


def invalid_message(violations: tuple[Violation, ...], count: int) -> str:
    """INVALID_PAYLOAD's message: the first few bad fields, and how many there are."""
    count = max(count, len(violations))
    if count == 1 and violations[0].field == "body":
        return violations[0].description
    shown = violations[:_MESSAGE_FIELDS]
    text = "; ".join(f"{v.field}: {_clip(v.description)}" for v in shown)
    if count > len(shown):
        where = (
            "all in the error details"
            if count == len(violations)
            else f"the error details list the first {len(violations)}"
        )
        text += f"; and {count - len(shown)} more ({where})"
    return f"{count} invalid field{'s' if count > 1 else ''}: {text}"


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def body_hash(items: list[Any], single: bool, item_key: str) -> bytes:
    """What "the same body" means for Idempotency-Key: the items and how to key them."""
    return idempotency.body_hash({"items": items, "single": single, "item_key": item_key})


def parsed_key(ingest_key: str) -> ParsedKey:
    """The key's parts; IngestUnauthorized when it is not shaped like an ingest key."""
    parsed = parse_key(ingest_key)
    if parsed is None:
        raise IngestUnauthorized(
            "missing or malformed ingest key: send 'Authorization: Bearer ik_live_…'"
        )
    return parsed


def key_context(parsed: ParsedKey, found: dict[str, Any] | None) -> KeyContext:
    """The key's stream, limits and schema from its ingest_key_auth row (None: no such
    key); IngestUnauthorized when it is not valid."""
    # The secret is compared even for an unknown id, so both take the same time.
    stored = bytes(found["secret_hash"]) if found else b"\0" * 32
    if not secret_matches(parsed.secret, stored) or found is None:
        raise IngestUnauthorized("the ingest key is not valid")
    if not found["active"]:
        raise IngestUnauthorized("the ingest key is revoked or expired")
    return KeyContext(
        key_id=found["id"],
        stream_id=str(found["stream_id"]),
        stream=found["stream"],
        workspace_id=str(found["workspace_id"]),
        rate_limit=found["rate_limit"],
        rate_window_seconds=found["rate_window_seconds"],
        schema_version=found["schema_version"],
        described_type=found["entity_type"],
        default_region=found["default_region"],
    )


async def authenticate(conn: repo.Conn, ingest_key: str) -> KeyContext:
    """The ingest key's stream, limits and schema; IngestUnauthorized when it is not valid."""
    parsed = parsed_key(ingest_key)
    return key_context(parsed, await repo.row(conn, "ingest_key_auth", ids=[parsed.key_id]))


def rejection_body(error: InletError) -> dict[str, Any]:
    """A refused request's error as its connector-log line keeps it."""
    body: dict[str, Any] = {"code": error.reason, "message": error.message}
    if error.violations:
        body["fields"] = [v.as_json() for v in error.violations]
    return body


class Accepting:
    """What accepting a stream request (inbox.accepting_many) shares with integration
    ingest and push transfer: rate limit, storing, replay, connector log."""

    pool: AsyncConnectionPool[Any]
    idempotency_ttl_seconds: int

    @staticmethod
    async def hit_rate_limit(conn: repo.Conn, source: Source) -> store_pb2.RateLimitState:
        return await guards.hit_rate_limit(
            conn,
            source.rate_subject,
            limit=source.rate_limit,
            window_seconds=source.rate_window_seconds,
        )

    async def store_request(
        self,
        conn: repo.Conn,
        source: Source,
        rate: store_pb2.RateLimitState,
        request_id: str,
        idempotency_key: str,
        digest: bytes,
        row: InboxRow,
    ) -> Accepted:
        """Commit the request (with its log line and settled key) before any answer; with an
        Idempotency-Key already accepted, that first request's answer instead."""
        if idempotency_key:
            claimed = await repo.row(
                conn,
                "claim_idempotency_key",
                scope_id=source.scope_id,
                idempotency_key=idempotency_key,
                body_hash=digest,
                request_id=request_id,
                ttl=self.idempotency_ttl_seconds,
                accept_lease=ACCEPT_LEASE_SECONDS,
            )
            if claimed is None:
                replayed = await self.replay(
                    conn, source, rate, request_id, idempotency_key, digest
                )
                if replayed is None:
                    # Released between our insert and this read: the first attempt failed.
                    raise IdempotencyKeyInUse(
                        "a request with this Idempotency-Key was just abandoned; retry it"
                    )
                return replayed
        try:
            # The request, its log line and the settled key: one atomic statement.
            await repo.execute(
                conn,
                "accept_stream_request",
                id=request_id,
                client_request_id=logs.client_request_id.get(),
                **source.columns(),
                route=source.route,
                scope_id=source.scope_id,
                item_key=row.item_key,
                items=repo.json(row.items) if row.items is not None else None,
                body=row.body,
                content_type=row.content_type,
                items_received=row.items_received,
                single=row.single,
                idempotency_key=idempotency_key,
            )
        except pg.UniqueViolation as error:
            if error.diag.table_name != "stream_requests":
                raise
            # Only a direct gRPC caller can send an id twice (the edge makes a new one
            # for every request); the first request keeps it.
            await self._release_key(conn, source, idempotency_key, request_id)
            raise RequestIdInUse(
                f"request id {request_id!r} (x-request-id) was used by another request;"
                " send a new one, or none"
            ) from error
        except BaseException:
            await self._release_key(conn, source, idempotency_key, request_id)
            raise
        return Accepted(request_id, source.name, row.items_received, False, rate)

    @staticmethod
    async def _release_key(
        conn: repo.Conn, source: Source, idempotency_key: str, request_id: str
    ) -> None:
        if idempotency_key:
            # Free the key so the client's retry is not refused as "in use".
            await repo.execute(
                conn,
                "release_idempotency_key",
                scope_id=source.scope_id,
                idempotency_key=idempotency_key,
                request_id=request_id,
            )

    async def replay(
        self,
        conn: repo.Conn,
        source: Source,
        rate: store_pb2.RateLimitState,
        request_id: str,
        idempotency_key: str,
        digest: bytes,
    ) -> Accepted | None:
        """The first request's answer to a repeat of its key; None when no live request
        holds the key. A stream answers whatever the repeat's body (its seed: "accepted (202)
        but not reprocessed") and its log line says if the body differed; an integration,
        whose seed is silent, refuses another body (IDEMPOTENCY_KEY_REUSED) as endpoint
        push does."""
        held = await repo.row(
            conn, "get_idempotency_key", scope_id=source.scope_id, idempotency_key=idempotency_key
        )
        if held is None:
            return None
        if held["state"] != "accepted":
            raise IdempotencyKeyInUse(
                "a request with this Idempotency-Key is still being accepted; retry shortly"
            )
        differed = bytes(held["body_hash"]) != digest
        if differed and source.kind != STREAM:
            raise guards.IdempotencyKeyReused(self.idempotency_ttl_seconds)
        # Logged under its own id (the one in its X-Request-Id); it answers with the first's.
        await self.log(
            conn,
            source,
            request_id,
            "replayed",
            202,
            held["items_received"],
            None,
            replay_of=held["request_id"],
            body_differed=differed,
        )
        if differed:
            log.info(
                "Idempotency-Key repeated with another body; answered with the first request's",
                extra={"replay_of": held["request_id"]},
            )
        return Accepted(held["request_id"], source.name, held["items_received"], True, rate)

    @staticmethod
    async def log(
        conn: repo.Conn,
        source: Source,
        request_id: str,
        outcome: str,
        status_code: int,
        items_received: int,
        error: dict[str, Any] | None,
        *,
        replay_of: str | None = None,
        body_differed: bool = False,
        route: str = "",
        result: Any = None,
    ) -> None:
        """One connector-log line of a request that named the source's credential."""
        columns = source.columns()
        await repo.execute(
            conn,
            "insert_connector_log",
            stream_id=columns["stream_id"],
            integration_id=columns["integration_id"],
            key_id=source.key_id,
            route=route or source.route,
            request_id=request_id,
            client_request_id=logs.client_request_id.get(),
            replay_of=replay_of,
            body_differed=body_differed,
            outcome=outcome,
            status_code=status_code,
            items_received=items_received,
            error=repo.json(error) if error is not None else None,
            result=repo.json(result) if result is not None else None,
        )

    @classmethod
    async def log_rejection(
        cls,
        conn: repo.Conn,
        source: Source,
        request_id: str,
        error: InletError,
        items_received: int,
        *,
        route: str = "",
    ) -> None:
        """A refused request's log line; a line that cannot be written is only reported."""
        code = http_status_of(error)
        body = rejection_body(error)
        try:
            async with wrap_exceptions():
                await cls.log(
                    conn, source, request_id, "rejected", code, items_received, body, route=route
                )
        except InletError:
            # The caller still gets the real error; the lost log line is reported here.
            log.warning("could not write connector log entry", exc_info=True)
