"""Accepting stream requests many at a time (group commit): one statement reads every key of
a batch, one counts every rate-limit hit, one stores every request with its log line, in one
commit; each request's answer, refusal or rate limit is its own."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from inlet.store.v1 import store_pb2
from inlet_common import exactjson, requestids
from inlet_common.errors import InletError
from inlet_common.group_commit import GroupCommit
from inlet_common.httpstatus import http_status_of
from inlet_common.sqlfiles import NamedQueries
from inlet_store import guards
from inlet_store import repository as repo
from inlet_store.errors import wrap_exceptions
from inlet_store.inbox.accepting import (
    Accepting,
    body_hash,
    invalid_message,
    key_context,
    parsed_key,
    rejection_body,
)
from inlet_store.inbox.types import Accepted, InboxRow, Rejection, Source, StreamSchema
from inlet_store.streams import (
    InvalidPayload,
    ParsedKey,
    PayloadTooLarge,
    RequestIdInUse,
    StreamNotFound,
)

log = logging.getLogger(__name__)

_QUERIES = NamedQueries("inlet_store.inbox", "sql")

# Requests accepted in one batch at most; what arrives meanwhile forms the next.
MAX_BATCH = 256


@dataclass(frozen=True)
class AcceptCommand:
    """One stream request to accept, with the ids and trace it was sent under."""

    request_id: str  # the stored request's id: the one its client is shown
    client_request_id: str
    traceparent: str  # W3C traceparent its processing continues ("" when not traced)
    ingest_key: str
    stream: str
    idempotency_key: str
    item_key: str
    items: list[Any]
    single: bool
    schema_version: str
    rejection: Rejection


@dataclass(frozen=True)
class Counted:
    """Passed the batch's checks with its rate-limit hit counted, and carries an
    Idempotency-Key: its submitter finishes it (claim or replay, then store)."""

    source: Source
    rate: store_pb2.RateLimitState


# What a batch answers each command (an Exception: the error to raise to its submitter).
Answer = Accepted | StreamSchema | Counted | Exception


class AcceptingMany(Accepting):
    """Stream accepts through a group commit: a lone request goes at once; the requests that
    arrive while a batch is being accepted form the next."""

    _accepts: GroupCommit[AcceptCommand, Accepted | StreamSchema | Counted]

    def _start_accepting(self) -> None:
        self._accepts = GroupCommit(self.accept_many, max_batch=MAX_BATCH)

    async def accept(self, command: AcceptCommand) -> Accepted | StreamSchema:
        """Store the request durably (committed) before answering; see the RPC comment. The
        stream's schema comes back instead when the items were checked against another."""
        answer = await self._accepts.submit(command)
        if isinstance(answer, Counted):
            return await self._accept_keyed(command, answer)
        return answer

    async def accept_many(self, commands: Sequence[AcceptCommand]) -> list[Answer]:
        """Each command's answer, in order; the batch's statements in one connection."""
        # The batch is no one request's: its own lines carry no request's id (the task that
        # runs it copied the ids of the request that started it).
        with requestids.bound(""):
            async with wrap_exceptions(), self.pool.connection() as conn:
                return await _Batch(self, conn, commands).run()

    async def _accept_keyed(self, command: AcceptCommand, counted: Counted) -> Accepted:
        """A request with an Idempotency-Key, after the batch counted it: its key claimed
        (or its first request's answer replayed), then stored, on a connection of its own."""
        source, rate = counted.source, counted.rate
        key = command.idempotency_key
        async with wrap_exceptions(), self.pool.connection() as conn:
            try:
                digest = body_hash(command.items, command.single, command.item_key)
                rejection = command.rejection
                if rejection.violations:
                    # A key accepted before answers whatever the body: it is not processed.
                    replayed = await self.replay(
                        conn, source, rate, command.request_id, key, digest
                    )
                    if replayed is not None:
                        return replayed
                    raise _invalid(rejection)
                return await self.store_request(
                    conn, source, rate, command.request_id, key, digest, _row(command)
                )
            except InletError as error:
                await self.log_rejection(
                    conn, source, command.request_id, error, len(command.items)
                )
                raise


def _row(command: AcceptCommand) -> InboxRow:
    return InboxRow(
        len(command.items), items=command.items, single=command.single, item_key=command.item_key
    )


def _invalid(rejection: Rejection) -> InvalidPayload:
    return InvalidPayload(
        invalid_message(rejection.violations, rejection.count), violations=rejection.violations
    )


def _judge(command: AcceptCommand, rate: store_pb2.RateLimitState | InletError) -> bool:
    """Raise the request's refusal after its hit was counted; True when it carries an
    Idempotency-Key (finished by its submitter), False when the batch stores it."""
    if isinstance(rate, InletError):
        raise rate
    rejection = command.rejection
    if rejection.unread:
        if rejection.unread_reason == PayloadTooLarge.reason:
            raise PayloadTooLarge(rejection.unread)
        raise InvalidPayload(rejection.unread)
    guards.check_idempotency_key(command.idempotency_key, InvalidPayload)
    if command.idempotency_key:
        return True
    if rejection.violations:
        raise _invalid(rejection)
    return False


class _Batch:
    """One batch of accepts on one connection: keys, hits, inserts, refusals' log lines."""

    def __init__(
        self, inbox: AcceptingMany, conn: repo.Conn, commands: Sequence[AcceptCommand]
    ) -> None:
        self.inbox = inbox
        self.conn = conn
        self.commands = commands
        self.answers: list[Answer | None] = [None] * len(commands)
        self.sources: dict[int, Source] = {}
        self.refused: list[tuple[int, InletError]] = []

    async def run(self) -> list[Answer]:
        counting = await self._checked_keys()
        rates = await self._hit(counting)
        storing: list[tuple[int, store_pb2.RateLimitState]] = []
        for i in counting:
            rate = rates[i]
            try:
                keyed = _judge(self.commands[i], rate)
            except InletError as error:
                self._refuse(i, error)
                continue
            assert isinstance(rate, store_pb2.RateLimitState)
            if keyed:
                self.answers[i] = Counted(self.sources[i], rate)
            else:
                storing.append((i, rate))
        if storing:
            await self._store(storing)
        await self._log_refusals()
        return [a if a is not None else InletError("not answered") for a in self.answers]

    def _refuse(self, i: int, error: InletError) -> None:
        self.answers[i] = error
        self.refused.append((i, error))

    async def _checked_keys(self) -> list[int]:
        """Every key of the batch read in one statement; the indices whose hit counts."""
        parsed: dict[int, ParsedKey] = {}
        for i, command in enumerate(self.commands):
            try:
                parsed[i] = parsed_key(command.ingest_key)
            except InletError as error:
                self.answers[i] = error  # no key: nothing to log it against
        ids = sorted({p.key_id for p in parsed.values()})
        rows = await repo.rows(self.conn, "ingest_key_auth", ids=ids) if ids else []
        found = {r["id"]: r for r in rows}
        counting: list[int] = []
        for i, key_parts in parsed.items():
            command = self.commands[i]
            try:
                key = key_context(key_parts, found.get(key_parts.key_id))
            except InletError as error:
                self.answers[i] = error
                continue
            self.sources[i] = key.source
            if command.stream and command.stream != key.stream:
                self._refuse(
                    i,
                    StreamNotFound(
                        f"stream {command.stream!r} does not match the ingest key (its stream"
                        f" is {key.stream!r})"
                    ),
                )
            elif (
                command.items
                and not command.rejection.unread
                and command.schema_version != key.schema_version
            ):
                # Before the rate limit: the call that follows is the one that counts.
                self.answers[i] = key.schema
            else:
                counting.append(i)
        return counting

    async def _hit(self, counting: list[int]) -> dict[int, store_pb2.RateLimitState | InletError]:
        """Every hit of the batch counted in one statement, each with its exact count: the
        n hits on a window are the last n of its total, in batch order."""
        by_subject: dict[str, list[int]] = {}
        for i in counting:
            by_subject.setdefault(self.sources[i].rate_subject, []).append(i)
        if not by_subject:
            return {}
        subjects = sorted(by_subject)
        first = {s: self.sources[by_subject[s][0]] for s in subjects}
        found = await _QUERIES.rows(
            self.conn,
            "hit_rate_windows_async",
            subjects=subjects,
            windows=[first[s].rate_window_seconds for s in subjects],
            counts=[len(by_subject[s]) for s in subjects],
        )
        rates: dict[int, store_pb2.RateLimitState | InletError] = {}
        for hit in found:
            subject = hit["subject"]
            source = first[subject]
            window = source.rate_window_seconds
            before = hit["hits"] - len(by_subject[subject])
            if before == 0:
                # A new window: the subject's older ones are dead weight.
                await repo.execute(self.conn, "prune_rate_windows", subject=subject, window=window)
            reset = max(1, math.ceil(hit["start_epoch"] + window - hit["now_epoch"]))
            for n, i in enumerate(by_subject[subject], start=1):
                limit = self.sources[i].rate_limit
                state = store_pb2.RateLimitState(
                    limit=limit,
                    remaining=max(0, limit - (before + n)),
                    reset_seconds=reset,
                    window_seconds=window,
                )
                rates[i] = guards.RateLimited(state) if before + n > limit else state
        return rates

    async def _store(self, storing: list[tuple[int, store_pb2.RateLimitState]]) -> None:
        """The requests without an Idempotency-Key in one statement (one commit); one by one
        when that statement fails as a whole, so one request's fault stays its own."""
        seen: set[str] = set()
        batch: list[tuple[int, store_pb2.RateLimitState]] = []
        for i, rate in storing:
            request_id = self.commands[i].request_id
            if request_id in seen:
                self._refuse(i, _id_in_use(request_id))
            else:
                seen.add(request_id)
                batch.append((i, rate))
        commands = [self.commands[i] for i, _ in batch]
        sources = [self.sources[i] for i, _ in batch]
        try:
            found = await _QUERIES.rows(
                self.conn,
                "accept_stream_requests",
                ids=[c.request_id for c in commands],
                stream_ids=[s.scope_id for s in sources],
                key_ids=[s.key_id for s in sources],
                item_keys=[c.item_key for c in commands],
                items=[exactjson.dumps_text(c.items) for c in commands],
                items_received=[len(c.items) for c in commands],
                singles=[c.single for c in commands],
                traceparents=[c.traceparent for c in commands],
                client_request_ids=[c.client_request_id for c in commands],
            )
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            log.warning("a batch of accepts failed as a whole; storing them one by one")
            for i, rate in batch:
                await self._store_alone(i, rate)
            return
        stored = {r["id"] for r in found}
        for (i, rate), command, source in zip(batch, commands, sources, strict=True):
            if command.request_id in stored:
                self.answers[i] = Accepted(
                    command.request_id, source.name, len(command.items), False, rate
                )
            else:
                self._refuse(i, _id_in_use(command.request_id))

    async def _store_alone(self, i: int, rate: store_pb2.RateLimitState) -> None:
        command = self.commands[i]
        row = _row(command)
        with requestids.bound(command.request_id, command.client_request_id):
            try:
                async with wrap_exceptions():
                    self.answers[i] = await self.inbox.store_request(
                        self.conn, self.sources[i], rate, command.request_id, "", b"", row
                    )
            except InletError as error:
                self._refuse(i, error)

    async def _log_refusals(self) -> None:
        """Each refused request's connector-log line, in one statement; lines that cannot be
        written are only reported (each caller still gets its own error)."""
        if not self.refused:
            return
        lines = [(self.commands[i], self.sources[i], error) for i, error in self.refused]
        try:
            async with wrap_exceptions():
                await _QUERIES.execute(
                    self.conn,
                    "insert_connector_logs",
                    stream_ids=[s.scope_id for _, s, _ in lines],
                    key_ids=[s.key_id for _, s, _ in lines],
                    request_ids=[c.request_id for c, _, _ in lines],
                    client_request_ids=[c.client_request_id for c, _, _ in lines],
                    status_codes=[http_status_of(e) for _, _, e in lines],
                    items_received=[len(c.items) for c, _, _ in lines],
                    errors=[exactjson.dumps_text(rejection_body(e)) for _, _, e in lines],
                )
        except (InletError, psycopg.Error):
            # Never fails the batch: its accepted requests are committed already.
            log.warning("could not write connector log entries", exc_info=True)


def _id_in_use(request_id: str) -> RequestIdInUse:
    # Only a direct gRPC caller can send an id twice (the edge makes a new one for every
    # request); the first request keeps it.
    return RequestIdInUse(
        f"request id {request_id!r} (x-request-id) was used by another request;"
        " send a new one, or none"
    )
