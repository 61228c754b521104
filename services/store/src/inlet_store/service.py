"""The store's use cases: resolve endpoints, apply plans atomically, log activity, admin."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from inlet.store.v1 import store_pb2
from inlet_common import logs
from inlet_common.errors import InletError, InvalidArgument, Violation
from inlet_common.httpstatus import http_status_of
from inlet_store import guards, outbox
from inlet_store import repository as repo
from inlet_store.domain import (
    Applied,
    Outcome,
    PlannedRecord,
    ResolvedEndpoint,
)
from inlet_store.errors import (
    DanglingReference,
    KeyRace,
    NotFound,
    wrap_exceptions,
)
from inlet_store.flags import current_unique_fields, with_unique_fields
from inlet_store.matching import decide, field_path, unique_keys
from inlet_store.tokens import token_hash

log = logging.getLogger(__name__)

_SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_REGION = re.compile(r"^([A-Z]{2})?$")


class InvalidIdempotencyKey(InvalidArgument):
    reason = "INVALID_IDEMPOTENCY_KEY"


@dataclass(frozen=True)
class Opened:
    """A push let in: its endpoint, its rate-limit window, and an answer to replay."""

    endpoint: ResolvedEndpoint
    rate: store_pb2.RateLimitState
    replay: tuple[str, Applied] | None = None  # (first request id, its answer)


@dataclass(frozen=True)
class _KeyGuard:
    key: str
    body_hash: bytes


class _KeyTaken(Exception):
    """The Idempotency-Key is held by a committed push (raised to roll back our work)."""

    def __init__(self, guard: _KeyGuard) -> None:
        super().__init__(guard.key)
        self.guard = guard


class Store:
    """Use cases over one connection pool."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        race_attempts: int = 8,
        idempotency_ttl_seconds: int = 86400,
    ) -> None:
        self.pool = pool
        self.race_attempts = race_attempts
        self.idempotency_ttl_seconds = idempotency_ttl_seconds

    # -- ingest -------------------------------------------------------------------------

    async def resolve_endpoint(self, token: str) -> ResolvedEndpoint:
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await self._resolve(conn, token)

    async def _resolve(self, conn: repo.Conn, token: str) -> ResolvedEndpoint:
        found = await repo.resolve_endpoint(conn, token_hash(token))
        if found is None:
            # A rotated-out token inside its grace period (issue 4): resolved as the
            # current one, and the request marked so the activity log shows it.
            grace = await repo.row(conn, "endpoint_by_previous_token", token_hash=token_hash(token))
            if grace is not None:
                found = await repo.resolve_endpoint(conn, grace["token_hash"])
                await repo.execute(
                    conn,
                    "insert_grace_use",
                    endpoint_id=grace["id"],
                    request_id=logs.request_id.get(),
                )
        if found is not None and not found.enabled:
            # A disabled endpoint answers like an unknown one, but the token is a real
            # credential, so its owner sees in the log that someone still pushes to it.
            await log_activity(
                conn,
                found.id,
                logs.request_id.get(),
                404,
                {"error": {"code": "ENDPOINT_DISABLED", "message": "endpoint is disabled"}},
            )
        if found is None or not found.enabled:
            raise NotFound("no enabled ingest endpoint has this token", reason="ENDPOINT_NOT_FOUND")
        return found

    async def open_push(
        self, token: str, *, idempotency_key: str = "", body_hash: bytes = b""
    ) -> Opened:
        """Resolve the token, count the push against the endpoint's rate limit, and find
        an earlier answer to replay for its Idempotency-Key. Refusals are logged here."""
        request_id = logs.request_id.get()
        async with wrap_exceptions(), self.pool.connection() as conn:
            endpoint = await self._resolve(conn, token)
            try:
                rate = await guards.hit_rate_limit(
                    conn,
                    f"endpoint:{endpoint.id}",
                    limit=endpoint.rate_limit,
                    window_seconds=endpoint.rate_window_seconds,
                )
                guards.check_idempotency_key(idempotency_key, InvalidIdempotencyKey)
                replay = None
                if idempotency_key:
                    replay = await self._stored_answer(
                        conn, endpoint.id, idempotency_key, body_hash
                    )
            except InletError as error:
                # Refused before any work: logged without an ingest.failed event, so a
                # client hammering past its limit does not also flood the webhooks.
                await self._log_refusal(conn, endpoint.id, request_id, error)
                raise
            if replay is not None:
                await self._log_replay(conn, endpoint.id, request_id, replay)
        return Opened(endpoint, rate, replay)

    async def _stored_answer(
        self, conn: repo.Conn, endpoint_id: str, idempotency_key: str, body_hash: bytes
    ) -> tuple[str, Applied] | None:
        held = await repo.row(
            conn,
            "endpoint_idempotency_key",
            endpoint_id=endpoint_id,
            idempotency_key=idempotency_key,
        )
        if held is None:
            return None
        if bytes(held["body_hash"]) != body_hash:
            raise guards.IdempotencyKeyReused(self.idempotency_ttl_seconds)
        return held["request_id"], Applied.replay_of(held["response"])

    async def _log_replay(
        self, conn: repo.Conn, endpoint_id: str, request_id: str, replay: tuple[str, Applied]
    ) -> None:
        original, applied = replay
        await _log_success(
            conn, endpoint_id, request_id, {**applied.summary(), "replay_of": original}
        )

    async def _log_refusal(
        self, conn: repo.Conn, endpoint_id: str, request_id: str, error: InletError
    ) -> None:
        status = error.to_status()
        try:
            async with wrap_exceptions():
                await log_activity(
                    conn,
                    endpoint_id,
                    request_id,
                    http_status_of(error),
                    {"error": {"code": error.reason, "message": status.message}},
                )
        except InletError:
            # The caller still gets the real error; the lost log line is reported here.
            log.warning("could not write activity log entry", exc_info=True)

    async def apply_plan(
        self,
        *,
        workspace_id: str,
        endpoint_id: str,
        request_id: str,
        record: PlannedRecord,
        related: dict[str, PlannedRecord],
        idempotency_key: str = "",
        body_hash: bytes = b"",
    ) -> Applied:
        """Match and write everything in one transaction; retry when a racer won a key.
        With an Idempotency-Key, a push that finds the key taken by a committed push
        writes nothing and answers that push's stored result."""
        guard = _KeyGuard(idempotency_key, body_hash) if idempotency_key else None
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(KeyRace),
                stop=stop_after_attempt(self.race_attempts),
                wait=wait_random_exponential(multiplier=0.005, max=0.2),
                reraise=True,
            ):
                with attempt:
                    return await self._apply_once(
                        workspace_id, endpoint_id, request_id, record, related, guard
                    )
        except _KeyTaken as taken:
            # A concurrent push with the same key committed while we planned: its answer.
            return await self._replay_taken(endpoint_id, request_id, taken.guard)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _replay_taken(self, endpoint_id: str, request_id: str, guard: _KeyGuard) -> Applied:
        async with wrap_exceptions(), self.pool.connection() as conn:
            replay = await self._stored_answer(conn, endpoint_id, guard.key, guard.body_hash)
            if replay is None:
                raise KeyRace("the Idempotency-Key was released while this push waited; retry")
            await self._log_replay(conn, endpoint_id, request_id, replay)
        return replay[1]

    async def _apply_once(
        self,
        workspace_id: str,
        endpoint_id: str,
        request_id: str,
        record: PlannedRecord,
        related: dict[str, PlannedRecord],
        guard: _KeyGuard | None,
    ) -> Applied:
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            if guard is not None:
                # First, so a concurrent push with this key waits here for our outcome.
                claimed = await repo.row(
                    conn,
                    "claim_endpoint_idempotency_key",
                    endpoint_id=endpoint_id,
                    idempotency_key=guard.key,
                    body_hash=guard.body_hash,
                    request_id=request_id,
                    ttl=self.idempotency_ttl_seconds,
                )
                if claimed is None:
                    raise _KeyTaken(guard)
            related_outcomes: dict[str, Outcome] = {}
            for slug, planned in related.items():
                related_outcomes[slug] = await self._upsert(
                    conn, workspace_id, planned, f"related.{slug}"
                )
            values = dict(record.values)
            for slug, outcome in related_outcomes.items():
                values[slug] = outcome.id
            primary = PlannedRecord(
                entity_type_id=record.entity_type_id,
                values=values,
                unique_fields=record.unique_fields,
                missing_required=tuple(s for s in record.missing_required if s not in values),
                references=record.references,
            )
            outcome = await self._upsert(conn, workspace_id, primary, "record")
            applied = Applied(outcome, related_outcomes)
            summary = applied.summary()
            await _log_success(conn, endpoint_id, request_id, summary)
            if guard is not None:
                await repo.execute(
                    conn,
                    "settle_endpoint_idempotency_key",
                    endpoint_id=endpoint_id,
                    idempotency_key=guard.key,
                    response=repo.jsonb(summary),
                )
            # Outbox events commit (or roll back) with the change they describe.
            source = {"type": "ingest_endpoint", "id": endpoint_id, "request_id": request_id}
            for slug, related_outcome in related_outcomes.items():
                await outbox.add_record_change(
                    conn, workspace_id, related[slug], related_outcome, source
                )
            await outbox.add_record_change(conn, workspace_id, primary, outcome, source)
            return applied

    async def _upsert(
        self, conn: repo.Conn, workspace_id: str, planned: PlannedRecord, entity: str
    ) -> Outcome:
        unique = await current_unique_fields(conn, planned.entity_type_id)
        planned = with_unique_fields(planned, unique)
        await self._check_references(conn, planned, entity)
        keys = unique_keys(planned, entity)
        hits: dict[str, str] = {}
        if keys:
            for hit in await repo.rows(
                conn,
                "find_keys",
                workspace_id=workspace_id,
                entity_type_id=planned.entity_type_id,
                slugs=list(keys),
                values=list(keys.values()),
            ):
                hits[hit["field_slug"]] = str(hit["record_id"])
        decision = decide(planned, keys, hits, entity)
        if decision.record_id is not None:
            record_id = decision.record_id
            if await repo.row(conn, "lock_record", id=record_id) is None:
                raise KeyRace("matched record was deleted concurrently")
            await repo.execute(conn, "update_record", id=record_id, data=repo.json(planned.values))
            if decision.moved:
                await repo.execute(
                    conn, "delete_keys", record_id=record_id, slugs=list(decision.moved)
                )
            if decision.new_keys:
                await self._insert_keys(conn, workspace_id, planned, record_id, decision.new_keys)
            return Outcome(id=record_id, action="updated", matched_on=decision.matched_on)
        created = await repo.row(
            conn,
            "insert_record",
            workspace_id=workspace_id,
            entity_type_id=planned.entity_type_id,
            data=repo.json({k: v for k, v in planned.values.items() if v is not None}),
        )
        assert created is not None
        record_id = str(created["id"])
        if decision.new_keys:
            await self._insert_keys(conn, workspace_id, planned, record_id, decision.new_keys)
        return Outcome(id=record_id, action="created")

    @staticmethod
    async def _insert_keys(
        conn: repo.Conn,
        workspace_id: str,
        planned: PlannedRecord,
        record_id: str,
        keys: dict[str, str],
    ) -> None:
        await repo.execute(
            conn,
            "insert_keys",
            workspace_id=workspace_id,
            entity_type_id=planned.entity_type_id,
            record_id=record_id,
            slugs=list(keys),
            values=list(keys.values()),
        )

    @staticmethod
    async def _check_references(conn: repo.Conn, planned: PlannedRecord, entity: str) -> None:
        wanted = {
            slug: (str(planned.values[slug]), type_id)
            for slug, type_id in planned.references.items()
            if planned.values.get(slug) is not None
        }
        if not wanted:
            return
        found = {
            str(r["id"]): str(r["entity_type_id"])
            for r in await repo.rows(
                conn, "existing_records", ids=[record_id for record_id, _ in wanted.values()]
            )
        }
        bad = [
            Violation(
                field_path(entity, slug),
                f"no record {rid} of the referenced type",
                "UNKNOWN_REFERENCE",
            )
            for slug, (rid, type_id) in wanted.items()
            if found.get(rid) != type_id
        ]
        if bad:
            raise DanglingReference("reference to a record that does not exist", violations=bad)

    async def record_activity(
        self, *, endpoint_id: str, request_id: str, status_code: int, outcome: dict[str, Any]
    ) -> None:
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            found = await repo.row(conn, "endpoint_workspace", id=endpoint_id)
            if found is None:
                raise NotFound(f"no ingest endpoint {endpoint_id}")
            await log_activity(conn, endpoint_id, request_id, status_code, outcome)
            if status_code >= 400:
                await outbox.add(
                    conn,
                    str(found["workspace_id"]),
                    outbox.INGEST_FAILED,
                    {
                        "request_id": request_id,
                        "source": {
                            "type": "ingest_endpoint",
                            "id": endpoint_id,
                            "request_id": request_id,
                        },
                        "status_code": status_code,
                        "outcome": outcome,
                    },
                )


async def _log_success(
    conn: repo.Conn, endpoint_id: str, request_id: str, outcome: dict[str, Any]
) -> None:
    await log_activity(conn, endpoint_id, request_id, 200, outcome)


async def log_activity(
    conn: repo.Conn, endpoint_id: str, request_id: str, status_code: int, outcome: dict[str, Any]
) -> None:
    """One activity entry, with the client's own request id when it sent one."""
    await repo.execute(
        conn,
        "insert_activity",
        endpoint_id=endpoint_id,
        request_id=request_id,
        client_request_id=logs.client_request_id.get(),
        status_code=status_code,
        outcome=repo.json(outcome),
        record_ids=written_records(outcome),
    )


def written_records(outcome: dict[str, Any]) -> list[str]:
    """The records an entry's request wrote (none for a replay or a failure): its index."""
    if "replay_of" in outcome:
        return []
    found: list[str] = []
    record = outcome.get("record")
    if isinstance(record, dict) and isinstance(record.get("id"), str):
        found.append(record["id"])
    related = outcome.get("related")
    if isinstance(related, dict):
        found += [r["id"] for r in related.values() if isinstance(r, dict) and "id" in r]
    return found
