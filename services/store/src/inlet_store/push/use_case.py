"""Committing endpoint pushes: one call per push, group-committed, every outcome its own."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from inlet.store.v1 import store_pb2
from inlet_common import exactjson, idempotency, tracing
from inlet_common.errors import InletError, Violation, describe
from inlet_common.group_commit import GroupCommit
from inlet_common.httpstatus import http_status_of
from inlet_store.domain import Applied
from inlet_store.errors import (
    DanglingReference,
    KeyRace,
    MissingRequired,
    NotFound,
    UniqueConflictError,
)
from inlet_store.guards import IdempotencyKeyReused, RateLimited
from inlet_store.matching import field_path
from inlet_store.push.repository import FailureEntry, PushRepository, Schema
from inlet_store.service import InvalidIdempotencyKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Planned:
    """One validated, normalised entity; values stay the JSON text the matcher wrote."""

    entity_type_id: str
    values_json: str
    unique_fields: tuple[str, ...] = ()
    key_values: tuple[str, ...] = ()  # the indexed text of each unique field's value
    missing_required: tuple[str, ...] = ()
    references: dict[str, str] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "entity_type_id": self.entity_type_id,
            "values": orjson.Fragment(self.values_json or "{}"),
            "unique_fields": self.unique_fields,
            "key_values": self.key_values,
            "missing_required": self.missing_required,
            "references": self.references,
        }


@dataclass(frozen=True)
class Refusal:
    """The matcher's (or the edge's) refusal of a push, as the activity log keeps it."""

    status_code: int
    outcome_json: str
    against_schema: bool = False


@dataclass(frozen=True)
class PushCommand:
    token_hash: bytes
    schema_version: str
    request_id: str
    client_request_id: str = ""
    idempotency_key: str = ""
    body_hash: bytes = b""
    record: Planned | None = None
    related: tuple[tuple[str, Planned], ...] = ()
    refusal: Refusal | None = None
    # The caller's W3C traceparent (tracing on only): a batch's rows each keep their own.
    traceparent: str | None = None


@dataclass(frozen=True)
class PushOutcome:
    """What became of a push: applied (or replayed), refused as asked, or the schema to
    plan against (then nothing was done)."""

    applied: Applied | None = None
    rate: store_pb2.RateLimitState | None = None
    schema: Schema | None = None
    refused: bool = False


def _refusal(error: InletError) -> dict[str, Any]:
    return {
        "status": http_status_of(error),
        "outcome": {"error": {"code": error.reason, "message": error.to_status().message}},
    }


def failure_error(failure: dict[str, Any]) -> InletError:
    """The error of a push the store refused while applying it (push_upsert's detail), or
    that lost a unique-key race more often than its attempts allow."""
    if failure["failure"] == "race":
        return KeyRace("another request wrote the same unique value first; retry")
    entity = failure["entity"]
    if failure["failure"] == "conflict":
        return UniqueConflictError(entity, [(f, v, list(ids)) for f, v, ids in failure["matches"]])
    if failure["failure"] == "missing_required":
        return MissingRequired(
            f"{entity} would be created without required fields",
            violations=[
                Violation(field_path(entity, slug), f"{slug} is required", "REQUIRED_FIELD_MISSING")
                for slug in failure["slugs"]
            ],
        )
    return DanglingReference(
        "reference to a record that does not exist",
        violations=[
            Violation(
                field_path(entity, slug),
                f"no record {rid} of the referenced type",
                "UNKNOWN_REFERENCE",
            )
            for slug, rid in failure["references"]
        ],
    )


class PushCommitter:
    """Use case: commit a push (or log its refusal) through group commit."""

    def __init__(
        self,
        repository: PushRepository,
        *,
        idempotency_ttl_seconds: int = 86400,
        race_attempts: int = 8,
        # Each push applies in a subtransaction; PostgreSQL caches 64 subtransaction ids
        # per transaction, past which every snapshot in the database gets slower.
        max_batch: int = 48,
    ) -> None:
        self.repository = repository
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.race_attempts = race_attempts
        self.batches: GroupCommit[PushCommand, dict[str, Any]] = GroupCommit(
            self._commit_batch, max_batch=max_batch
        )

    async def commit(self, command: PushCommand) -> PushOutcome:
        # Taken here, in the caller's context: the batch runs in the first submitter's.
        traced = tracing.traceparent()
        if traced is not None:
            command = replace(command, traceparent=traced)
        answer = await self.batches.submit(command)
        status = answer["status"]
        rate = _rate(answer.get("rate"))
        if status == "applied":
            return PushOutcome(applied=_applied(answer["summary"]), rate=rate)
        if status == "replayed":
            return PushOutcome(applied=Applied.replay_of(answer["summary"]), rate=rate)
        if status == "refused":
            return PushOutcome(rate=rate, refused=True)
        if status == "stale":
            schema = await self.repository.schema(command.token_hash)
            if schema is not None:
                return PushOutcome(schema=schema)
        if status in ("not_found", "stale"):
            raise NotFound("no enabled ingest endpoint has this token", reason="ENDPOINT_NOT_FOUND")
        if status == "rate_limited":
            assert rate is not None
            raise RateLimited(rate)
        if status == "key_invalid":
            raise self._key_error(command.idempotency_key)
        if status == "key_reused":
            raise IdempotencyKeyReused(self.idempotency_ttl_seconds)
        raise AssertionError(f"unknown push status {status!r}")

    async def _commit_batch(self, commands: list[PushCommand]) -> list[dict[str, Any] | Exception]:
        # Sorted by endpoint (stably: one endpoint's pushes keep their order), every batch
        # takes the endpoints' rate-limit rows in one order, so two store replicas'
        # batches never wait for each other in a cycle.
        order = sorted(range(len(commands)), key=lambda i: commands[i].token_hash)
        answers = await self._commit_in_order([commands[i] for i in order])
        answered: list[dict[str, Any] | Exception] = [{}] * len(commands)
        for position, index in enumerate(order):
            answered[index] = answers[position]
        return answered

    async def _commit_in_order(
        self, commands: list[PushCommand]
    ) -> list[dict[str, Any] | Exception]:
        documents = [self.document(c) for c in commands]
        answers: list[dict[str, Any] | Exception]
        try:
            answers = list(await self.repository.commit(documents, self.race_attempts))
        except Exception:
            if len(documents) == 1:
                raise
            # Something no push's own subtransaction caught: each push alone, so one
            # push's fault fails that push only.
            log.warning("push batch failed; applying its pushes one by one", exc_info=True)
            answers = [await self._commit_alone(d) for d in documents]
        failed: list[FailureEntry] = []
        for index, (command, answer) in enumerate(zip(commands, answers, strict=True)):
            if isinstance(answer, dict) and answer["status"] == "failed":
                error = failure_error(answer["failure"])
                answers[index] = error
                failed.append(
                    FailureEntry(
                        endpoint_id=str(answer["endpoint_id"]),
                        workspace_id=str(answer["workspace_id"]),
                        request_id=command.request_id,
                        client_request_id=command.client_request_id,
                        status_code=http_status_of(error),
                        outcome=exactjson.dumps({"error": describe(error)}),
                    )
                )
        if failed:
            try:
                await self.repository.log_failures(failed)
            except InletError:
                # The callers still get the real errors; the lost log lines are reported here.
                log.warning("could not write activity log entries", exc_info=True)
        return answers

    async def _commit_alone(self, document: bytes) -> dict[str, Any] | Exception:
        try:
            return (await self.repository.commit([document], self.race_attempts))[0]
        except Exception as error:  # noqa: BLE001 - this push's own failure
            return error

    def _key_error(self, key: str) -> InletError:
        problem = idempotency.key_problem(key) or "invalid Idempotency-Key"
        return InvalidIdempotencyKey(
            problem, violations=[Violation("Idempotency-Key", "too long", "TOO_LONG")]
        )

    def document(self, command: PushCommand) -> bytes:
        """The push as push_commit_one reads it."""
        refusal = command.refusal
        key = command.idempotency_key
        body: dict[str, Any] = {
            "token_hash": command.token_hash.hex(),
            "schema_version": command.schema_version,
            "check_schema": refusal is None or refusal.against_schema,
            "request_id": command.request_id,
            "traceparent": command.traceparent,
            "client_request_id": command.client_request_id,
            "idempotency_key": key,
            "body_hash": command.body_hash.hex(),
            "ttl": self.idempotency_ttl_seconds,
            "record": command.record.document() if command.record else None,
            "related": [{"slug": s, "planned": p.document()} for s, p in command.related],
            "refusal": (
                {"status": refusal.status_code, "outcome": orjson.Fragment(refusal.outcome_json)}
                if refusal is not None
                else None
            ),
            "key_refusal": _refusal(self._key_error(key)) if idempotency.key_problem(key) else None,
            "reuse_refusal": (
                _refusal(IdempotencyKeyReused(self.idempotency_ttl_seconds)) if key else None
            ),
        }
        return orjson.dumps(body)


def _rate(found: dict[str, Any] | None) -> store_pb2.RateLimitState | None:
    if found is None:
        return None
    return store_pb2.RateLimitState(
        limit=found["limit"],
        remaining=found["remaining"],
        reset_seconds=found["reset_seconds"],
        window_seconds=found["window_seconds"],
    )


def _applied(summary: dict[str, Any]) -> Applied:
    return replace(Applied.replay_of(summary), replayed=False)
