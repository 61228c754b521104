"""Stream ingest in the matcher: judge a body before the 202 (its shape, and its items
against the stream's schema, cached per key), and plan a claimed request's items."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from inlet.ingest.v1 import ingest_pb2
from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson, logs, nul, tracing
from inlet_common.credentials import bearer_token
from inlet_common.errors import Aborted, InletError, Unauthenticated, Violation
from inlet_common.exactjson import kind_of
from inlet_common.group_commit import GroupCommit
from inlet_matcher.judged import Judged, JudgedItems
from inlet_matcher.planner import EntityShape, check_entity, plan_entity
from inlet_matcher.store_client import GrpcStore, answers_of

log = logging.getLogger(__name__)

# Bad fields an INVALID_PAYLOAD lists: its details travel in gRPC trailers (about 8 KB
# at most), so the list stops at this many, or at this many bytes of text; the message
# counts them all.
MAX_LISTED = 50
MAX_LISTED_BYTES = 4000
# Stream schemas a matcher keeps, by ingest key (least recently used dropped first).
SCHEMA_CACHE_SIZE = 1024
# A schema that changes between every call (it should not) ends the request after this.
_SCHEMA_ATTEMPTS = 3


class StreamsDisabled(InletError):
    code = grpc.StatusCode.UNIMPLEMENTED
    reason = "STREAMS_DISABLED"


class SchemaChanging(Aborted):
    reason = "SCHEMA_CHANGING"


@dataclass(frozen=True)
class ReadBody:
    """A raw body as items (numbers exact), or why it cannot be taken."""

    items: list[Any]
    single: bool
    unread: str = ""  # not JSON (or refused at the edge): refused as a whole
    problems: tuple[Violation, ...] = ()  # JSON of the wrong shape


_NUL = b"\\u0000"


def read_body(data: bytes) -> ReadBody:
    """The items of a raw body; judged without the stream's schema."""
    if not data.strip():
        return ReadBody([], False, "request body is empty: send a JSON object or array")
    try:
        body = exactjson.loads(data)
    except exactjson.DecodeError as error:
        return ReadBody([], False, f"request body is not valid JSON: {error}")
    # A parsed string can only hold NUL written as the escape \u0000 (JSON refuses the raw
    # control character): a body without that text needs no walk through every item.
    where = (
        nul.in_json(body, "body" if isinstance(body, dict) else "items") if _NUL in data else None
    )
    if where is not None:
        # Refused whole, before anything is stored: PostgreSQL could not keep it.
        return ReadBody([], False, problems=tuple(nul.refusal(where).violations))
    if isinstance(body, dict):
        return ReadBody([body], True)
    if isinstance(body, list) and body:
        return ReadBody(body, False)
    if isinstance(body, list):
        message = "request body is an empty array: send some items"
        return ReadBody([], False, problems=(Violation("body", message, "EMPTY_BODY"),))
    message = f"request body must be a JSON object or an array of objects, got {kind_of(body)}"
    return ReadBody([], False, problems=(Violation("body", message, "INVALID_TYPE"),))


def judge_item(
    entity_type: entity_pb2.EntityType,
    region: str,
    ref_types: dict[str, str],
    item_key: str,
    path: str,
    values: Any,
    *,
    shape: EntityShape | None = None,
    plan: bool = True,
    into: store_pb2.PlannedRecord | None = None,
) -> tuple[store_pb2.PlannedRecord | None, dict[str, Any], list[Violation]]:
    """One item checked and normalised without looking anything up: its planned record
    (None when `plan` is off: judged only) and normalised values, and every bad field (its
    X-Item-Key value included). `shape`: the type's, read once for all the items; `into`:
    the record to plan into (see plan_entity)."""
    if not isinstance(values, dict):
        message = f"{path} must be a JSON object, got {kind_of(values)}"
        return None, {}, [Violation(path, message, "INVALID_TYPE")]
    problems: list[Violation] = []
    shape = shape or EntityShape.of(entity_type)
    record: store_pb2.PlannedRecord | None = None
    if plan:
        record, normalised = plan_entity(
            entity_type,
            values,
            region,
            path,
            problems,
            ref_types=ref_types,
            satisfied=set(),
            shape=shape,
            into=into,
            keyed=False,
        )
    else:
        normalised = check_entity(shape, values, region, path, problems, ref_types=ref_types)
    if item_key and normalised.get(item_key) is None:
        where = f"{path}.{item_key}"
        if all(p.field != where for p in problems):
            message = (
                f"{item_key} (X-Item-Key) is empty"
                if item_key in values
                else f"{path} has no {item_key!r} field, which X-Item-Key names as the item"
                " identifier"
            )
            problems.append(Violation(where, message, "EMPTY_ITEM_KEY"))
    return record, normalised, problems


def check_items(
    schema: store_pb2.StreamSchema,
    items: list[Any],
    single: bool,
    item_key: str,
    normalised: list[dict[str, Any]] | None = None,
) -> list[Violation]:
    """Every bad field of the items against the stream's schema, in order; each item's
    normalised values appended to `normalised` when given."""
    problems: list[Violation] = []
    slugs = [f.slug for f in schema.entity_type.fields]
    if item_key and item_key not in slugs:
        problems.append(
            Violation(
                "X-Item-Key",
                f"X-Item-Key names {item_key!r}, which is not a field of"
                f" {schema.entity_type.slug} (fields: {', '.join(slugs) or 'none'})",
                "UNKNOWN_FIELD",
            )
        )
        item_key = ""
    refs = dict(schema.reference_type_ids)
    shape = EntityShape.of(schema.entity_type)
    for index, values in enumerate(items):
        path = "body" if single else f"items[{index}]"
        _, values, found = judge_item(
            schema.entity_type,
            schema.default_region,
            refs,
            item_key,
            path,
            values,
            shape=shape,
            plan=False,
        )
        problems += found
        if normalised is not None:
            normalised.append(values)
    return problems


def listed(problems: list[Violation]) -> list[Violation]:
    """The first bad fields, as many as an error's details can carry."""
    shown: list[Violation] = []
    size = 0
    for problem in problems[:MAX_LISTED]:
        size += len(problem.field) + len(problem.description) + len(problem.reason)
        if shown and size > MAX_LISTED_BYTES:
            break
        shown.append(problem)
    return shown


class SchemaCache:
    """Stream schemas by ingest key prefix (ik_live_<id>, never the secret). An entry is
    only a guess: the store answers with the current schema when its version moved on."""

    def __init__(self, size: int = SCHEMA_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[str, store_pb2.StreamSchema] = OrderedDict()

    @staticmethod
    def key_of(ingest_key: str) -> str:
        return ingest_key.rsplit("_", 1)[0]

    def get(self, ingest_key: str) -> store_pb2.StreamSchema | None:
        found = self._entries.get(self.key_of(ingest_key))
        if found is not None:
            self._entries.move_to_end(self.key_of(ingest_key))
        return found

    def put(self, ingest_key: str, schema: store_pb2.StreamSchema) -> None:
        self._entries[self.key_of(ingest_key)] = schema
        self._entries.move_to_end(self.key_of(ingest_key))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


def bearer(metadata: dict[str, Any]) -> str:
    """The credential of `authorization: Bearer …` (empty when absent: the store says 401)."""
    try:
        return bearer_token(str(metadata.get("authorization", "")))
    except Unauthenticated:
        return ""


class GrpcStreamStore(GrpcStore):
    """The store's stream-ingest RPCs, over the same channel and error translation."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float, *, max_batch: int = 64) -> None:
        super().__init__(channel, timeout, max_batch=max_batch)
        # Accepts in hand at once go in one AcceptStreamRequests call (and so one batch of
        # the store's), as pushes do; a lone one goes at once.
        self._accepts: GroupCommit[
            store_pb2.AcceptStreamRequestCall, store_pb2.AcceptStreamRequestResponse
        ] = GroupCommit(self._accept_many, max_batch=max_batch)

    async def accept(
        self, request: store_pb2.AcceptStreamRequestRequest
    ) -> store_pb2.AcceptStreamRequestResponse:
        # The ids and trace are the caller's: the batch is sent from another task.
        call = store_pb2.AcceptStreamRequestCall(
            request=request,
            request_id=logs.request_id.get(),
            client_request_id=logs.client_request_id.get(),
            traceparent=tracing.traceparent() or "",
        )
        return await self._accepts.submit(call)

    async def _accept_many(
        self, calls: list[store_pb2.AcceptStreamRequestCall]
    ) -> list[store_pb2.AcceptStreamRequestResponse | Exception]:
        request = store_pb2.AcceptStreamRequestsRequest(requests=calls)
        try:
            # Each request carries its own ids and trace; the call carries none of them.
            answer = await self._call(self._stub.AcceptStreamRequests, request, carry_ids=False)
        except InletError as error:
            return [error] * len(calls)
        return answers_of(answer.results, len(calls))

    async def status(
        self, request: store_pb2.GetStreamRequestStatusRequest
    ) -> store_pb2.GetStreamRequestStatusResponse:
        return await self._call(self._stub.GetStreamRequestStatus, request)

    async def claim(
        self,
        worker: str,
        lease_seconds: int,
        *,
        max_requests: int = 1,
        max_items: int = 0,
        wait_seconds: float = 0.0,
    ) -> list[store_pb2.ClaimedStreamRequest]:
        """A batch of leased requests; none after `wait_seconds` without work."""
        found: store_pb2.ClaimStreamRequestsResponse = await self._call(
            self._stub.ClaimStreamRequests,
            store_pb2.ClaimStreamRequestsRequest(
                worker=worker,
                lease_seconds=lease_seconds,
                max_requests=max_requests,
                max_items=max_items,
                wait_seconds=wait_seconds,
            ),
            # The store may hold the call that long before answering.
            deadline=self._timeout + wait_seconds,
        )
        return list(found.claims)

    async def apply(
        self, request: store_pb2.ApplyStreamItemsRequest
    ) -> store_pb2.ApplyStreamItemsResponse:
        return await self._call(self._stub.ApplyStreamItems, request)

    async def apply_many(
        self, request: store_pb2.ApplyStreamRequestsRequest
    ) -> store_pb2.ApplyStreamRequestsResponse:
        return await self._call(self._stub.ApplyStreamRequests, request)

    async def apply_transfer(
        self, request: store_pb2.ApplyPushItemsRequest
    ) -> store_pb2.ApplyPushItemsResponse:
        return await self._call(self._stub.ApplyPushItems, request)

    async def accept_integration(
        self, request: store_pb2.AcceptIntegrationRequestRequest
    ) -> store_pb2.AcceptIntegrationRequestResponse:
        return await self._call(self._stub.AcceptIntegrationRequest, request)

    async def integration_status(
        self, request: store_pb2.GetIntegrationRequestStatusRequest
    ) -> store_pb2.GetIntegrationRequestStatusResponse:
        return await self._call(self._stub.GetIntegrationRequestStatus, request)

    async def ping(self, request: store_pb2.PingProjectTokenRequest) -> None:
        await self._call(self._stub.PingProjectToken, request)

    async def submit_form(
        self, request: store_pb2.SubmitFormRequest
    ) -> store_pb2.SubmitFormResponse:
        return await self._call(self._stub.SubmitForm, request)


class StreamIngest:
    """Accepting requests (202 once stored) and reading their status."""

    def __init__(
        self,
        store: GrpcStreamStore,
        on_accepted: Callable[[], None] = lambda: None,
        schemas: SchemaCache | None = None,
        judged: JudgedItems | None = None,
    ):
        self.store = store
        self.on_accepted = on_accepted
        self.schemas = schemas or SchemaCache()
        # Where this matcher's workers find the items it normalised (None: not kept).
        self.judged = judged

    async def accept(
        self,
        metadata: dict[str, Any],
        body: bytes,
        stream: str,
        *,
        edge_reason: str = "",
        edge_message: str = "",
    ) -> store_pb2.AcceptStreamRequestResponse:
        """Judge the body and store the request: one store call when this matcher holds the
        stream's current schema, two when it has none or an outdated one (the first answers
        with the schema and counts nothing). An edge rejection (too large) is sent to be
        logged against the key and raised, so the key is still checked first."""
        item_key = str(metadata.get("x-item-key", "")).strip()
        ingest_key = bearer(metadata)
        read = ReadBody([], False, edge_message or edge_reason) if edge_reason else read_body(body)
        request = store_pb2.AcceptStreamRequestRequest(
            ingest_key=ingest_key,
            stream=stream or str(metadata.get("x-stream", "")).strip(),
            idempotency_key=str(metadata.get("idempotency-key", "")),
            item_key=item_key,
            items=exactjson.to_raw(read.items),
            single=read.single,
            rejection=read.unread,
            rejection_reason="PAYLOAD_TOO_LARGE" if edge_reason == "PAYLOAD_TOO_LARGE" else "",
        )
        schema = self.schemas.get(ingest_key)
        request_id = logs.request_id.get()
        kept: Judged | None = None
        try:
            for _ in range(_SCHEMA_ATTEMPTS):
                problems = list(read.problems)
                normalised: list[dict[str, Any]] = []
                if schema is not None and read.items:
                    problems += check_items(schema, read.items, read.single, item_key, normalised)
                if self.judged is not None and schema is not None and read.items:
                    # Kept before the request is stored: no claim of it can come first.
                    judged = Judged(schema, item_key, read.single, normalised)
                    put = not problems and self.judged.put(request_id, judged, replacing=kept)
                    self.judged.discard(request_id, kept)
                    kept = judged if put else None
                request.schema_version = schema.version if schema is not None else ""
                del request.violations[:]
                request.violations.extend(
                    ingest_pb2.IngestFieldError(field=p.field, code=p.reason, message=p.description)
                    for p in listed(problems)
                )
                request.violation_count = len(problems)
                accepted = await self.store.accept(request)
                if not accepted.HasField("schema"):
                    if not accepted.replayed:
                        self.on_accepted()  # our own workers start at once; others poll
                        kept = None  # stored: its workers take it
                    return accepted
                schema = accepted.schema
                self.schemas.put(ingest_key, schema)
        finally:
            if self.judged is not None:
                self.judged.discard(request_id, kept)
        raise SchemaChanging(
            "the stream's entity type kept changing while the request was checked; retry it"
        )

    async def status(
        self, metadata: dict[str, Any], request_id: str
    ) -> store_pb2.GetStreamRequestStatusResponse:
        return await self.store.status(
            store_pb2.GetStreamRequestStatusRequest(
                ingest_key=bearer(metadata), request_id=request_id
            )
        )
