"""The inbox's requests: accept one (stream ingest; integration ingest and push transfer
build on it), apply a leased one's items exactly once, report status."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from psycopg import errors as pg
from psycopg_pool import AsyncConnectionPool

from inlet.store.v1 import store_pb2
from inlet_common import idempotency, logs, requestids
from inlet_common.errors import InletError, Unavailable, Violation
from inlet_common.httpstatus import http_status_of
from inlet_store import chunks, guards, outbox
from inlet_store import repository as repo
from inlet_store.domain import EntityTypeDef, Outcome, PlannedRecord
from inlet_store.errors import KeyRace, UniqueConflictError, wrap_exceptions
from inlet_store.flags import current_unique_fields, with_unique_fields
from inlet_store.inbox import batch
from inlet_store.inbox.claims import Claims, SqlClaims
from inlet_store.inbox.sources import INTEGRATION, STREAM, entity_type_of
from inlet_store.inbox.waiting import Wakeups
from inlet_store.service import Store
from inlet_store.streams import (
    IdempotencyKeyInUse,
    IngestUnauthorized,
    InvalidPayload,
    LeaseLost,
    PayloadTooLarge,
    RequestIdInUse,
    RequestNotFound,
    StreamNotFound,
    parse_key,
    secret_matches,
)

log = logging.getLogger(__name__)

_ITEM_RACE_ATTEMPTS = 8
# A claimed Idempotency-Key is settled by the accept in the same breath; one still
# 'accepting' this long after its claim lost its store, and a retry may take it over.
ACCEPT_LEASE_SECONDS = 30
# Bad fields named in INVALID_PAYLOAD's message (its details list them).
_MESSAGE_FIELDS = 3


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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class ItemOutcome:
    index: int
    action: str  # created | updated | superseded | failed
    record_id: str = ""
    matched_on: tuple[str, ...] = ()
    error: dict[str, Any] | None = None
    superseded_by: int | None = None
    related: dict[str, Outcome] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "item_index": self.index,
            "record_id": self.record_id or None,
            "action": self.action,
            "matched_on": list(self.matched_on),
            "error": self.error,
            "superseded_by": self.superseded_by,
            "related": (
                {slug: o.as_json() for slug, o in self.related.items()} if self.related else None
            ),
        }


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


class Inbox:
    """Use cases of stream ingest over one pool; chunks are written set-based (chunks.py),
    and item by item with Store._upsert when a concurrent writer won a key."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        store: Store,
        *,
        idempotency_ttl_seconds: int = 86400,
        wakeups: Wakeups | None = None,
    ) -> None:
        self.pool = pool
        self.store = store
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        # Claiming, long-polled: `wakeups` is what the store's LISTEN connection wakes.
        self.claims = Claims(SqlClaims(pool), wakeups)

    # -- authentication -------------------------------------------------------------------

    async def _authenticate(self, conn: repo.Conn, ingest_key: str) -> KeyContext:
        parsed = parse_key(ingest_key)
        if parsed is None:
            raise IngestUnauthorized(
                "missing or malformed ingest key: send 'Authorization: Bearer ik_live_…'"
            )
        found = await repo.row(conn, "ingest_key_auth", id=parsed.key_id)
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

    # -- accept ---------------------------------------------------------------------------

    async def accept(
        self,
        *,
        request_id: str,
        ingest_key: str,
        stream: str,
        idempotency_key: str,
        item_key: str,
        items: list[Any],
        single: bool,
        schema_version: str,
        rejection: Rejection,
    ) -> Accepted | StreamSchema:
        """Store the request durably (committed) before answering; see the RPC comment.
        `request_id` is the id its client is shown: the request's id, and its log line's.
        The stream's schema comes back instead when the items were checked against another."""
        async with wrap_exceptions(), self.pool.connection() as conn:
            key = await self._authenticate(conn, ingest_key)
            source = key.source
            try:
                if stream and stream != key.stream:
                    raise StreamNotFound(
                        f"stream {stream!r} does not match the ingest key (its stream is"
                        f" {key.stream!r})"
                    )
                if items and not rejection.unread and schema_version != key.schema_version:
                    # Before the rate limit: the call that follows is the one that counts.
                    return key.schema
                rate = await self.hit_rate_limit(conn, source)
                if rejection.unread:
                    if rejection.unread_reason == PayloadTooLarge.reason:
                        raise PayloadTooLarge(rejection.unread)
                    raise InvalidPayload(rejection.unread)
                guards.check_idempotency_key(idempotency_key, InvalidPayload)
                digest = body_hash(items, single, item_key) if idempotency_key else b""
                if rejection.violations:
                    # A key accepted before answers whatever the body: it is not processed.
                    if idempotency_key:
                        replayed = await self.replay(
                            conn, source, rate, request_id, idempotency_key, digest
                        )
                        if replayed is not None:
                            return replayed
                    raise InvalidPayload(
                        invalid_message(rejection.violations, rejection.count),
                        violations=rejection.violations,
                    )
                row = InboxRow(len(items), items=items, single=single, item_key=item_key)
                return await self.store_request(
                    conn, source, rate, request_id, idempotency_key, digest, row
                )
            except InletError as error:
                await self.log_rejection(conn, source, request_id, error, len(items))
                raise

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
        body: dict[str, Any] = {"code": error.reason, "message": error.message}
        if error.violations:
            body["fields"] = [v.as_json() for v in error.violations]
        try:
            async with wrap_exceptions():
                await cls.log(
                    conn, source, request_id, "rejected", code, items_received, body, route=route
                )
        except InletError:
            # The caller still gets the real error; the lost log line is reported here.
            log.warning("could not write connector log entry", exc_info=True)

    # -- status ---------------------------------------------------------------------------

    async def status(self, *, ingest_key: str, request_id: str) -> RequestStatus:
        async with wrap_exceptions(), self.pool.connection() as conn:
            key = await self._authenticate(conn, ingest_key)
            found = await repo.row(
                conn, "stream_request_status", id=request_id, stream_id=key.stream_id
            )
            if found is None:
                raise RequestNotFound(f"no request {request_id!r} on stream {key.stream!r}")
            items = await item_outcomes(conn, request_id)
        return RequestStatus(
            request_id=found["id"],
            stream=found["stream"],
            status=found["status"],
            items_received=found["items_received"],
            items_processed=found["items_processed"],
            items_failed=sum(1 for i in items if i.action == "failed"),
            create_time=found["create_time"],
            finish_time=found["finish_time"],
            items=items,
        )

    # -- workers --------------------------------------------------------------------------

    async def apply(
        self,
        *,
        request_id: str,
        lease_token: str,
        lease_seconds: int,
        workspace_id: str,
        items: list[StreamItem],
        finish: bool = False,
    ) -> tuple[list[ItemOutcome], str]:
        """Apply a chunk: outcomes commit with the upserts (and, for the last chunk, with the
        request's final status) in one transaction."""
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await self._apply_on(
                conn,
                RequestChunk(request_id, lease_token, lease_seconds, workspace_id, items),
                finish,
            )

    async def apply_many(self, chunks: list[RequestChunk]) -> list[tuple[str, InletError | None]]:
        """Whole requests in one transaction (one commit): set-based for the batch when it
        can (inlet_store.inbox.batch), else each in a savepoint of its own. Each one's final
        status, or the error that left it unwritten."""
        together = await self._apply_batch(chunks)
        if together is not None:
            for chunk, (status, error) in zip(chunks, together, strict=True):
                with requestids.bound(chunk.request_id):
                    if error is None:
                        log.info("stream request applied", extra={"status": status})
                    else:
                        log.warning("stream request not applied: %s", error.message)
            return together
        results: list[tuple[str, InletError | None]] = []
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            for chunk in chunks:
                # Each request's lines under its own id, as if it came alone.
                with requestids.bound(chunk.request_id):
                    try:
                        async with conn.transaction():
                            _, status = await self._apply_on(conn, chunk, True)
                        results.append((status, None))
                        log.info("stream request applied", extra={"status": status})
                    except InletError as error:
                        results.append(("", error))
                        log.warning("stream request not applied: %s", error.message)
        return results

    async def _apply_batch(
        self, chunks: list[RequestChunk]
    ) -> list[tuple[str, InletError | None]] | None:
        """The batch set-based in one transaction; None when it cannot go that way or lost a
        race (nothing is then written, and the caller applies its requests one by one)."""
        requests = [batch.BatchRequest(c.request_id, c.lease_token, c.items) for c in chunks]
        type_id = batch.eligible({c.workspace_id for c in chunks}, requests)
        if type_id is None:
            return None
        try:
            async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
                return await batch.apply_batch(
                    conn, chunks[0].workspace_id, type_id, requests, decide_item
                )
        except Unavailable:
            raise
        except InletError as error:
            # A lost key race, or a request the batch cannot write: one by one, each
            # request keeps its own outcome.
            log.info("batch not applied together (%s); one request at a time", error.reason)
            return None

    async def _apply_on(
        self, conn: repo.Conn, chunk: RequestChunk, finish: bool
    ) -> tuple[list[ItemOutcome], str]:
        request_id, lease_token = chunk.request_id, chunk.lease_token
        lease_seconds, workspace_id, items = chunk.lease_seconds, chunk.workspace_id, chunk.items
        # Items with related records take the item-by-item path: each writes its related
        # records first and points its reference fields at them.
        if not any(i.related for i in items):
            try:
                # Fast path: the whole chunk set-based (inlet_store.chunks). The store's
                # domain errors are decided before anything is written, so a bad item
                # needs no rollback; only a lost key race does, and it rolls back the chunk.
                async with wrap_exceptions(), conn.transaction():
                    source = await self.hold_lease(
                        conn, request_id, lease_token, lease_seconds, finish
                    )
                    outcomes = await self._apply_chunk(
                        conn, workspace_id, source, request_id, items
                    )
                    status = (
                        await self.finish_request(conn, request_id, lease_token) if finish else ""
                    )
                return outcomes, status
            except KeyRace:
                log.info(
                    "chunk lost a key race; applying it item by item",
                    extra={"request": request_id},
                )
        async with wrap_exceptions(), conn.transaction():
            source = await self.hold_lease(conn, request_id, lease_token, lease_seconds, finish)
            outcomes = [await self._apply_item(conn, workspace_id, source, i) for i in items]
            if outcomes:
                await repo.execute(
                    conn,
                    "insert_item_outcomes",
                    request_id=request_id,
                    outcomes=repo.json([o.row() for o in outcomes]),
                )
            status = await self.finish_request(conn, request_id, lease_token) if finish else ""
        return outcomes, status

    @staticmethod
    async def hold_lease(
        conn: repo.Conn, request_id: str, lease_token: str, lease_seconds: int, finish: bool
    ) -> dict[str, str]:
        """Lock the request while the lease is ours; the `source` of its record.* events."""
        # The last chunk only locks the row: an UPDATE would leave one more dead version of
        # a row that is about to be updated by finish_stream_request anyway.
        if finish:
            held = await repo.row(conn, "hold_lease", id=request_id, lease_token=lease_token)
        else:
            held = await repo.row(
                conn,
                "hold_and_extend_lease",
                id=request_id,
                lease_token=lease_token,
                lease_seconds=lease_seconds,
            )
        if held is None:
            raise LeaseLost(f"the lease on {request_id} expired and was taken over")
        if held["integration"]:
            return {"type": INTEGRATION, "id": held["integration"], "request_id": request_id}
        return {"type": STREAM, "request_id": request_id}

    async def _apply_chunk(
        self,
        conn: repo.Conn,
        workspace_id: str,
        source: dict[str, str],
        request_id: str,
        items: list[StreamItem],
    ) -> list[ItemOutcome]:
        """Every item decided in order over one key lookup, then written in bulk; KeyRace
        when a concurrent writer got in the way."""
        records = [
            chunks.ChunkItem(i.index, i.record)
            for i in items
            if i.superseded_by is None and i.record is not None
        ]
        type_ids = {c.record.entity_type_id for c in records}
        if len(type_ids) > 1:
            # A stream has one entity type; anything else takes the item-by-item path.
            raise KeyRace("items of several entity types")
        type_id = type_ids.pop() if type_ids else ""
        if type_id:
            # Key on the flags in force now, not on the plan's (see inlet_store.flags).
            unique = await current_unique_fields(conn, type_id)
            items = [
                replace(i, record=with_unique_fields(i.record, unique)) if i.record else i
                for i in items
            ]
            records = [
                chunks.ChunkItem(i.index, i.record)
                for i in items
                if i.superseded_by is None and i.record is not None
            ]
        dangling = await chunks.dangling_references(conn, records)
        plan = chunks.ChunkPlan(await chunks.stored_keys(conn, workspace_id, type_id, records))
        outcomes: list[ItemOutcome] = []
        events: list[dict[str, Any]] = []
        for item in items:
            outcome, event = decide_item(item, plan, source, dangling.get(item.index))
            outcomes.append(outcome)
            if event is not None:
                events.append(event)
        if outcomes:
            await chunks.write_chunk(
                conn,
                plan,
                workspace_id=workspace_id,
                entity_type_id=type_id,
                request_id=request_id,
                events=events,
                outcomes=[o.row() for o in outcomes],
            )
        return outcomes

    async def _apply_item(
        self, conn: repo.Conn, workspace_id: str, source: dict[str, str], item: StreamItem
    ) -> ItemOutcome:
        """One item (its related records first) in its own savepoint, retried when it loses
        a key race."""
        if item.superseded_by is not None or item.record is None:
            return _not_applied(item)
        entity = f"items[{item.index}]"
        for attempt in range(_ITEM_RACE_ATTEMPTS):
            try:
                # Translated inside the loop: a lost key race rolls back only this item.
                async with wrap_exceptions(), conn.transaction():
                    related: dict[str, Outcome] = {}
                    for slug, planned in item.related.items():
                        related[slug] = await self.store._upsert(
                            conn, workspace_id, planned, f"{entity}.related.{slug}"
                        )
                        await outbox.add_record_change(
                            conn, workspace_id, planned, related[slug], source
                        )
                    record = _pointing_at(item.record, related)
                    outcome = await self.store._upsert(conn, workspace_id, record, entity)
                    await outbox.add_record_change(conn, workspace_id, record, outcome, source)
                return ItemOutcome(
                    item.index,
                    outcome.action,
                    outcome.id,
                    matched_on=outcome.matched_on,
                    related=related,
                )
            except KeyRace:
                if attempt == _ITEM_RACE_ATTEMPTS - 1:
                    raise
            except InletError as error:
                return ItemOutcome(item.index, "failed", error=describe(error))
        raise AssertionError("unreachable")

    async def finish(self, *, request_id: str, lease_token: str) -> str:
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            return await self.finish_request(conn, request_id, lease_token)

    @staticmethod
    async def finish_request(conn: repo.Conn, request_id: str, lease_token: str) -> str:
        """Completed (or failed when no item succeeded), with `request.completed` queued."""
        done = await repo.row(
            conn,
            "finish_stream_request",
            id=request_id,
            lease_token=lease_token,
            event_type=outbox.REQUEST_COMPLETED,
        )
        if done is None:
            raise LeaseLost(f"the lease on {request_id} expired and was taken over")
        return str(done["status"])


def decide_item(
    item: StreamItem,
    plan: chunks.ChunkPlan,
    source: dict[str, str],
    dangling: InletError | None = None,
) -> tuple[ItemOutcome, dict[str, Any] | None]:
    """One item decided over `plan` (written later, in bulk): its outcome, and its
    record.* event when it wrote a record; KeyRace is left to the caller."""
    if item.superseded_by is not None or item.record is None:
        return _not_applied(item), None
    try:
        if dangling is not None:
            raise dangling
        outcome = plan.upsert(item.record, f"items[{item.index}]")
    except KeyRace:
        raise
    except InletError as error:
        return ItemOutcome(item.index, "failed", error=describe(error)), None
    return (
        ItemOutcome(item.index, outcome.action, outcome.id, matched_on=outcome.matched_on),
        chunks.record_event(item.record, outcome, source),
    )


def _pointing_at(record: PlannedRecord, related: dict[str, Outcome]) -> PlannedRecord:
    """The record with each reference field set to the related record written for it."""
    if not related:
        return record
    values = {**record.values, **{slug: o.id for slug, o in related.items()}}
    return replace(
        record,
        values=values,
        missing_required=tuple(s for s in record.missing_required if s not in values),
    )


async def item_outcomes(conn: repo.Conn, request_id: str) -> list[ItemOutcome]:
    """A request's item outcomes, in index order (a superseded item with its winner's record)."""
    return [
        ItemOutcome(
            index=r["item_index"],
            action=r["action"],
            record_id=str(r["record_id"]) if r["record_id"] else "",
            matched_on=tuple(r["matched_on"]),
            error=r["error"],
            superseded_by=r["superseded_by"],
            related={
                slug: Outcome(o["id"], o["action"], tuple(o.get("matched_on", ())))
                for slug, o in (r["related"] or {}).items()
            },
        )
        for r in await repo.rows(conn, "stream_request_items", id=request_id)
    ]


def _not_applied(item: StreamItem) -> ItemOutcome:
    """The outcome of an item the matcher already settled: superseded, or invalid."""
    if item.superseded_by is not None:
        return ItemOutcome(item.index, "superseded", superseded_by=item.superseded_by)
    return ItemOutcome(item.index, "failed", error=item.error or {"code": "INVALID"})


def describe(error: InletError) -> dict[str, Any]:
    """An item's error as its outcome keeps it: code, message, bad fields."""
    body: dict[str, Any] = {"code": error.reason, "message": error.message}
    if error.violations:
        body["fields"] = [v.as_json() for v in error.violations]
    if isinstance(error, UniqueConflictError):
        body["code"] = "UNIQUE_CONFLICT"
    return body
