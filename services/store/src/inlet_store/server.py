"""gRPC servicers of the store: protobuf ↔ domain only; endpoint push is in push/."""

from __future__ import annotations

from typing import Any

from inlet.store.v1 import store_pb2, store_pb2_grpc
from inlet_common import exactjson
from inlet_store.domain import PlannedRecord
from inlet_store.push.repository import PgPushRepository
from inlet_store.push.servicer import commit_push, commit_pushes
from inlet_store.push.use_case import PushCommitter
from inlet_store.schema_pb import TYPE_NAMES, entity_type_pb
from inlet_store.service import Store

__all__ = ["TYPE_NAMES", "StoreServicer", "entity_type_pb"]


def _planned(p: store_pb2.PlannedRecord) -> PlannedRecord:
    # Empty lists and maps are tested first: converting one costs more than the test, and
    # a stream's items (a thousand to a request) mostly have none.
    return PlannedRecord(
        entity_type_id=p.entity_type_id,
        values=exactjson.from_raw(p.values, {}),
        unique_fields=tuple(p.unique_fields),
        missing_required=tuple(p.missing_required) if p.missing_required else (),
        references=dict(p.references) if p.references else {},
    )


class StoreServicer(store_pb2_grpc.StoreServiceServicer):
    def __init__(self, store: Store, pushes: PushCommitter | None = None) -> None:
        self.store = store
        self.pushes = pushes or PushCommitter(
            PgPushRepository(store.pool),
            idempotency_ttl_seconds=store.idempotency_ttl_seconds,
            race_attempts=store.race_attempts,
        )

    async def CommitPush(
        self, request: store_pb2.CommitPushRequest, context: Any
    ) -> store_pb2.CommitPushResponse:
        return await commit_push(self.pushes, request)

    async def CommitPushes(
        self, request: store_pb2.CommitPushesRequest, context: Any
    ) -> store_pb2.CommitPushesResponse:
        return await commit_pushes(self.pushes, request)
