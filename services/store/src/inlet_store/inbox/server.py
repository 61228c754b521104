"""StoreService's inbox RPCs: protobuf ↔ domain only; the work is in Inbox and Claims."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from google.rpc import status_pb2

from inlet.ingest.v1 import ingest_pb2
from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2, json_pb2, result_pb2
from inlet_common import exactjson, logs, tracing
from inlet_common.errors import InvalidArgument, Violation
from inlet_store.batched import run_call
from inlet_store.domain import EntityTypeDef, PlannedRecord
from inlet_store.inbox.accepting_many import AcceptCommand
from inlet_store.inbox.claims import Claimed
from inlet_store.inbox.requests import Inbox
from inlet_store.inbox.types import (
    ItemOutcome,
    Rejection,
    RequestChunk,
    RequestStatus,
    StreamItem,
    StreamSchema,
)
from inlet_store.server import StoreServicer, entity_type_pb
from inlet_store.server import _planned as planned
from inlet_store.service import Store

# A claim leases at most this many requests, and waits at most this long for work.
MAX_CLAIMS = 256
MAX_WAIT_SECONDS = 60.0
# What one AcceptStreamRequests call may carry (the proto says so).
MAX_ACCEPTS_PER_CALL = 256
# Each request of an AcceptStreamRequests call is logged and traced as the call it stands for.
_ACCEPT_STREAM_REQUEST = "/inlet.store.v1.StoreService/AcceptStreamRequest"
# Planned items read between two looks at the event loop.
_SLICE = 250


def list_value(items: json_pb2.RawJson) -> list[Any]:
    found = exactjson.from_raw(items, [])
    assert isinstance(found, list)
    return found


def outcome_pb(o: ItemOutcome) -> ingest_pb2.IngestItemOutcome:
    message = ingest_pb2.IngestItemOutcome(
        index=o.index, record_id=o.record_id, action=o.action, matched_on=list(o.matched_on)
    )
    if o.error:
        message.error.code = str(o.error.get("code", ""))
        message.error.message = str(o.error.get("message", ""))
        for f in o.error.get("fields", []):
            message.error.fields.add(field=f["field"], code=f["code"], message=f["message"])
    if o.superseded_by is not None:
        message.superseded_by = o.superseded_by
    for slug, related in o.related.items():
        message.related[slug].CopyFrom(
            result_pb2.EntityResult(
                id=related.id, action=related.action, matched_on=list(related.matched_on)
            )
        )
    return message


def reference_type_ids(entity_type: EntityTypeDef) -> dict[str, str]:
    """Reference-field slug → the id of the type it references."""
    return {
        f.slug: f.reference_entity_type_id for f in entity_type.fields if f.reference_entity_type_id
    }


def schema_pb(schema: StreamSchema) -> store_pb2.StreamSchema:
    return store_pb2.StreamSchema(
        version=schema.version,
        entity_type=entity_type_pb(schema.entity_type),
        default_region=schema.default_region,
        reference_type_ids=reference_type_ids(schema.entity_type),
    )


def rejection_of(request: store_pb2.AcceptStreamRequestRequest) -> Rejection:
    violations = tuple(Violation(v.field, v.message, v.code) for v in request.violations)
    return Rejection(
        unread=request.rejection,
        unread_reason=request.rejection_reason,
        violations=violations,
        count=max(request.violation_count, len(violations)),
    )


def status_pb(s: RequestStatus) -> ingest_pb2.IngestRequestStatus:
    return ingest_pb2.IngestRequestStatus(
        request_id=s.request_id,
        stream=s.stream,
        status=s.status,
        items_received=s.items_received,
        items_processed=s.items_processed,
        items_failed=s.items_failed,
        created_at=s.create_time.isoformat().replace("+00:00", "Z"),
        completed_at=s.finish_time.isoformat().replace("+00:00", "Z") if s.finish_time else "",
        items=[outcome_pb(o) for o in s.items],
    )


def request_chunk(request: store_pb2.ApplyStreamItemsRequest) -> RequestChunk:
    """A request's planned items as the inbox applies them."""
    found = request.items
    values = _values(found)
    return RequestChunk(
        request_id=request.request_id,
        lease_token=request.lease_token,
        lease_seconds=max(1, request.lease_seconds),
        workspace_id=request.workspace_id,
        items=[_item(i, v) for i, v in zip(found, values, strict=True)],
    )


def _values(items: Sequence[store_pb2.StreamItem]) -> list[Any]:
    """Each item's planned values (None for an item without a record), read in one parse:
    a thousand small ones cost twice as much. Each text is one JSON value (the matcher's
    exactjson.dumps); a count that does not add up is read again item by item."""
    texts = [i.record.values.json or "{}" if i.HasField("record") else "null" for i in items]
    try:
        parsed = exactjson.loads(f"[{','.join(texts)}]")
    except exactjson.DecodeError:
        parsed = None  # one level deeper than a value may be: each on its own
    if not isinstance(parsed, list) or len(parsed) != len(texts):
        parsed = [exactjson.loads(text) for text in texts]
    return parsed


def _item(i: store_pb2.StreamItem, values: Any) -> StreamItem:
    # Positional, and empty fields tested before they are converted: a thousand per request.
    r = i.record
    return StreamItem(
        i.index,
        PlannedRecord(
            r.entity_type_id,
            values,
            tuple(r.unique_fields),
            tuple(r.missing_required) if r.missing_required else (),
            dict(r.references) if r.references else {},
        )
        if values is not None
        else None,
        exactjson.from_raw(i.error) if i.HasField("error") else None,
        i.superseded_by if i.HasField("superseded_by") else None,
        {slug: planned(p) for slug, p in i.related.items()} if i.related else {},
    )


def claims_pb(claims: list[Claimed]) -> list[store_pb2.ClaimedStreamRequest]:
    """Claimed requests as the RPC answers them; each entity type made into protobuf once."""
    types: dict[int, tuple[entity_pb2.EntityType, dict[str, str]]] = {}
    for c in claims:
        if id(c.entity_type) not in types:
            types[id(c.entity_type)] = (
                entity_type_pb(c.entity_type),
                reference_type_ids(c.entity_type),
            )
    return [claimed_pb(c, *types[id(c.entity_type)]) for c in claims]


def claimed_pb(
    claimed: Claimed, entity_type: entity_pb2.EntityType, references: dict[str, str]
) -> store_pb2.ClaimedStreamRequest:
    return store_pb2.ClaimedStreamRequest(
        request_id=claimed.request_id,
        lease_token=claimed.lease_token,
        workspace_id=claimed.workspace_id,
        default_region=claimed.default_region,
        entity_type=entity_type,
        item_key=claimed.item_key,
        items=json_pb2.RawJson(json=claimed.items),
        done_indices=claimed.done_indices,
        single=claimed.single,
        reference_type_ids=references,
        traceparent=claimed.traceparent,
        source=claimed.source,
        integration=(
            store_pb2.IntegrationSpec(
                id=claimed.integration.id,
                type=claimed.integration.type,
                mapping=(
                    exactjson.to_raw(claimed.integration.mapping)
                    if claimed.integration.mapping is not None
                    else None
                ),
            )
            if claimed.integration is not None
            else None
        ),
        body=claimed.body,
        referenced_types={slug: entity_type_pb(t) for slug, t in claimed.referenced.items()},
    )


class InboxStoreServicer(StoreServicer):
    """StoreService with the stream-ingest RPCs (inbox, leases, item outcomes)."""

    def __init__(self, store: Store, inbox: Inbox) -> None:
        super().__init__(store)
        self.inbox = inbox

    async def AcceptStreamRequest(
        self, request: store_pb2.AcceptStreamRequestRequest, context: Any
    ) -> store_pb2.AcceptStreamRequestResponse:
        # Under the call's ids and trace, as one of AcceptStreamRequests would be.
        return await self._accept(
            request, logs.request_id.get(), logs.client_request_id.get(), tracing.traceparent()
        )

    async def AcceptStreamRequests(
        self, request: store_pb2.AcceptStreamRequestsRequest, context: Any
    ) -> store_pb2.AcceptStreamRequestsResponse:
        """Each request as AcceptStreamRequest would accept it, all at once (so they share
        the inbox's batches)."""
        if not request.requests or len(request.requests) > MAX_ACCEPTS_PER_CALL:
            raise InvalidArgument(
                f"requests: 1 to {MAX_ACCEPTS_PER_CALL} requests per call,"
                f" got {len(request.requests)}",
                reason="INVALID_BATCH",
            )
        answers = await asyncio.gather(*(self._accept_call(call) for call in request.requests))
        return store_pb2.AcceptStreamRequestsResponse(
            results=[
                store_pb2.AcceptStreamRequestResult(error=answer)
                if isinstance(answer, status_pb2.Status)
                else store_pb2.AcceptStreamRequestResult(response=answer)
                for answer in answers
            ]
        )

    async def _accept_call(
        self, call: store_pb2.AcceptStreamRequestCall
    ) -> store_pb2.AcceptStreamRequestResponse | status_pb2.Status:
        async def accept() -> store_pb2.AcceptStreamRequestResponse:
            # Stored under the store's span of this request: its processing continues it.
            return await self._accept(
                call.request,
                logs.request_id.get(),
                logs.client_request_id.get(),
                tracing.traceparent() or call.traceparent,
            )

        return await run_call(
            _ACCEPT_STREAM_REQUEST,
            call.request_id,
            call.client_request_id,
            call.traceparent,
            accept,
        )

    async def _accept(
        self,
        request: store_pb2.AcceptStreamRequestRequest,
        request_id: str,
        client_request_id: str,
        traceparent: str | None,
    ) -> store_pb2.AcceptStreamRequestResponse:
        accepted = await self.inbox.accept(
            AcceptCommand(
                # The id of the call's x-request-id: the one the client is shown.
                request_id=request_id,
                client_request_id=client_request_id,
                traceparent=traceparent or "",
                ingest_key=request.ingest_key,
                stream=request.stream,
                idempotency_key=request.idempotency_key,
                item_key=request.item_key,
                items=list_value(request.items),
                single=request.single,
                schema_version=request.schema_version,
                rejection=rejection_of(request),
            )
        )
        if isinstance(accepted, StreamSchema):
            return store_pb2.AcceptStreamRequestResponse(schema=schema_pb(accepted))
        return store_pb2.AcceptStreamRequestResponse(
            request_id=accepted.request_id,
            stream=accepted.name,
            items_received=accepted.items_received,
            replayed=accepted.replayed,
            rate_limit=accepted.rate,
        )

    async def GetStreamRequestStatus(
        self, request: store_pb2.GetStreamRequestStatusRequest, context: Any
    ) -> store_pb2.GetStreamRequestStatusResponse:
        found = await self.inbox.status(
            ingest_key=request.ingest_key, request_id=request.request_id
        )
        return store_pb2.GetStreamRequestStatusResponse(status=status_pb(found))

    async def ClaimStreamRequests(
        self, request: store_pb2.ClaimStreamRequestsRequest, context: Any
    ) -> store_pb2.ClaimStreamRequestsResponse:
        claims = await self.inbox.claims.claim(
            limit=min(max(1, request.max_requests), MAX_CLAIMS),
            max_items=max(0, request.max_items),
            lease_seconds=max(1, request.lease_seconds),
            wait_seconds=min(max(0.0, request.wait_seconds), MAX_WAIT_SECONDS),
        )
        return store_pb2.ClaimStreamRequestsResponse(claims=claims_pb(claims))

    async def ApplyStreamItems(
        self, request: store_pb2.ApplyStreamItemsRequest, context: Any
    ) -> store_pb2.ApplyStreamItemsResponse:
        chunk = request_chunk(request)
        outcomes, status = await self.inbox.apply(
            request_id=chunk.request_id,
            lease_token=chunk.lease_token,
            lease_seconds=chunk.lease_seconds,
            workspace_id=chunk.workspace_id,
            items=chunk.items,
            finish=request.finish,
        )
        return store_pb2.ApplyStreamItemsResponse(
            outcomes=[outcome_pb(o) for o in outcomes], status=status
        )

    async def ApplyStreamRequests(
        self, request: store_pb2.ApplyStreamRequestsRequest, context: Any
    ) -> store_pb2.ApplyStreamRequestsResponse:
        chunks = []
        since_pause = 0
        for r in request.requests:
            chunks.append(request_chunk(r))
            since_pause += len(r.items)
            if since_pause >= _SLICE:
                # Milliseconds of work: the accepts waiting on this event loop go first.
                await asyncio.sleep(0)
                since_pause = 0
        results = await self.inbox.apply_many(chunks)
        return store_pb2.ApplyStreamRequestsResponse(
            results=[
                store_pb2.AppliedStreamRequest(
                    request_id=chunk.request_id,
                    status=status,
                    error_reason=error.reason if error else "",
                    error_message=error.message if error else "",
                )
                for chunk, (status, error) in zip(chunks, results, strict=True)
            ]
        )

    async def FinishStreamRequest(
        self, request: store_pb2.FinishStreamRequestRequest, context: Any
    ) -> store_pb2.FinishStreamRequestResponse:
        status = await self.inbox.finish(
            request_id=request.request_id, lease_token=request.lease_token
        )
        return store_pb2.FinishStreamRequestResponse(status=status)
