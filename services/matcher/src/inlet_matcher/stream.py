"""Stream ingest in the matcher: check a body at acceptance, and plan a claimed request's
items (validate, normalise, choose match keys, decide which duplicates a later item wins)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from inlet.store.v1 import store_pb2
from inlet_common import exactjson
from inlet_common.credentials import bearer_token
from inlet_common.errors import InletError, Unauthenticated, Violation
from inlet_matcher.bodies import kind_of
from inlet_matcher.planner import plan_entity
from inlet_matcher.store_client import GrpcStore

log = logging.getLogger(__name__)


class StreamsDisabled(InletError):
    code = grpc.StatusCode.UNIMPLEMENTED
    reason = "STREAMS_DISABLED"


@dataclass(frozen=True)
class CheckedBody:
    items: list[Any]
    single: bool
    rejection: str  # empty when the body is acceptable


def check_body(data: bytes, item_key: str) -> CheckedBody:
    """The items of a raw body (numbers exact), or the INVALID_PAYLOAD message that says
    what is wrong."""
    if not data.strip():
        return CheckedBody([], False, "request body is empty: send a JSON object or array")
    try:
        body = exactjson.loads(data)
    except exactjson.DecodeError as error:
        return CheckedBody([], False, f"request body is not valid JSON: {error}")
    if isinstance(body, dict):
        items: list[Any] = [body]
        single = True
    elif isinstance(body, list):
        items = body
        single = False
        if not items:
            return CheckedBody(items, single, "request body is an empty array: send some items")
    else:
        return CheckedBody(
            [],
            False,
            f"request body must be a JSON object or an array of objects, got {kind_of(body)}",
        )
    for index, item in enumerate(items):
        where = "body" if single else f"items[{index}]"
        if not isinstance(item, dict):
            return CheckedBody(items, single, f"{where} is not a JSON object")
        if item_key and item.get(item_key) is None:
            return CheckedBody(
                items,
                single,
                f"{where} has no {item_key!r} field, which X-Item-Key names as the item identifier",
            )
    return CheckedBody(items, single, "")


def bearer(metadata: dict[str, Any]) -> str:
    """The credential of `authorization: Bearer …` (empty when absent: the store says 401)."""
    try:
        return bearer_token(str(metadata.get("authorization", "")), what="ingest key")
    except Unauthenticated:
        return ""


class GrpcStreamStore(GrpcStore):
    """The store's stream-ingest RPCs, over the same channel and error translation."""

    async def accept(
        self, request: store_pb2.AcceptStreamRequestRequest
    ) -> store_pb2.AcceptStreamRequestResponse:
        return await self._call(self._stub.AcceptStreamRequest, request)

    async def status(
        self, request: store_pb2.GetStreamRequestStatusRequest
    ) -> store_pb2.GetStreamRequestStatusResponse:
        return await self._call(self._stub.GetStreamRequestStatus, request)

    async def claim(self, worker: str, lease_seconds: int) -> store_pb2.ClaimStreamRequestResponse:
        return await self._call(
            self._stub.ClaimStreamRequest,
            store_pb2.ClaimStreamRequestRequest(worker=worker, lease_seconds=lease_seconds),
        )

    async def apply(
        self, request: store_pb2.ApplyStreamItemsRequest
    ) -> store_pb2.ApplyStreamItemsResponse:
        return await self._call(self._stub.ApplyStreamItems, request)


class StreamIngest:
    """Accepting requests (202 once stored) and reading their status."""

    def __init__(self, store: GrpcStreamStore, on_accepted: Callable[[], None] = lambda: None):
        self.store = store
        self.on_accepted = on_accepted

    async def accept(
        self,
        metadata: dict[str, Any],
        body: bytes,
        stream: str,
        *,
        edge_reason: str = "",
        edge_message: str = "",
    ) -> store_pb2.AcceptStreamRequestResponse:
        """Store the request; an edge rejection (bad JSON, too large) is sent to be logged
        against the key and raised, so the key is still checked first."""
        item_key = str(metadata.get("x-item-key", "")).strip()
        checked = check_body(body, item_key)
        rejection, reason = checked.rejection, ""
        if edge_reason:
            rejection = edge_message or edge_reason
            reason = "PAYLOAD_TOO_LARGE" if edge_reason == "PAYLOAD_TOO_LARGE" else ""
        accepted = await self.store.accept(
            store_pb2.AcceptStreamRequestRequest(
                ingest_key=bearer(metadata),
                stream=stream or str(metadata.get("x-stream", "")).strip(),
                idempotency_key=str(metadata.get("idempotency-key", "")),
                item_key=item_key,
                items=exactjson.to_raw(checked.items),
                single=checked.single,
                rejection=rejection,
                rejection_reason=reason,
            )
        )
        if not accepted.replayed:
            self.on_accepted()  # our own workers start at once; others poll
        return accepted

    async def status(
        self, metadata: dict[str, Any], request_id: str
    ) -> store_pb2.GetStreamRequestStatusResponse:
        return await self.store.status(
            store_pb2.GetStreamRequestStatusRequest(
                ingest_key=bearer(metadata), request_id=request_id
            )
        )


# -- planning a claimed request -------------------------------------------------------------


def plan_items(claimed: store_pb2.ClaimStreamRequestResponse) -> list[store_pb2.StreamItem]:
    """Every not-yet-done item as a planned record, an error, or superseded by a later one."""
    items = exactjson.from_raw(claimed.items, [])
    assert isinstance(items, list)
    done = set(claimed.done_indices)
    planned: dict[int, store_pb2.StreamItem] = {}
    key_of: dict[int, str] = {}
    for index, values in enumerate(items):
        item, normalised = _plan_one(claimed, index, values)
        planned[index] = item
        if claimed.item_key and item.HasField("record"):
            key_of[index] = exactjson.dumps(
                normalised.get(claimed.item_key), sort_keys=True
            ).decode()
    # Within one batch the last item with a given X-Item-Key value wins.
    last: dict[str, int] = {}
    for index, key in key_of.items():
        last[key] = index
    for index, key in key_of.items():
        if last[key] != index:
            planned[index] = store_pb2.StreamItem(index=index, superseded_by=last[key])
    return [planned[i] for i in sorted(planned) if i not in done]


def _plan_one(
    claimed: store_pb2.ClaimStreamRequestResponse, index: int, values: Any
) -> tuple[store_pb2.StreamItem, dict[str, Any]]:
    path = "body" if claimed.single else f"items[{index}]"
    problems: list[Violation] = []
    if not isinstance(values, dict):
        problems.append(Violation(path, f"{path} is not a JSON object", "INVALID_TYPE"))
        return _failed(index, path, problems), {}
    record, normalised = plan_entity(
        claimed.entity_type,
        values,
        claimed.default_region,
        path,
        problems,
        ref_types=dict(claimed.reference_type_ids),
        satisfied=set(),
    )
    key = claimed.item_key
    if key and not problems and normalised.get(key) is None:
        problems.append(
            Violation(f"{path}.{key}", f"{key} (X-Item-Key) is empty", "EMPTY_ITEM_KEY")
        )
    if problems:
        return _failed(index, path, problems), normalised
    if key:
        # The item key identifies the record; the type's unique fields still apply after it.
        record.ClearField("unique_fields")
        record.unique_fields.extend(
            [
                key,
                *(
                    f.slug
                    for f in claimed.entity_type.fields
                    if f.unique and f.slug != key and normalised.get(f.slug) is not None
                ),
            ]
        )
    return store_pb2.StreamItem(index=index, record=record), normalised


def _failed(index: int, path: str, problems: Iterable[Violation]) -> store_pb2.StreamItem:
    found = list(problems)
    return store_pb2.StreamItem(
        index=index,
        error=exactjson.to_raw(
            {
                "code": "VALIDATION_FAILED",
                "message": f"invalid item: {', '.join(p.field for p in found)}",
                "fields": [p.as_json() for p in found],
            }
        ),
    )
