"""gRPC servicers of the store: protobuf ↔ domain only, the work is in service.Store."""

from __future__ import annotations

from typing import Any

from inlet.store.v1 import store_pb2, store_pb2_grpc
from inlet.type.v1 import entity_pb2, result_pb2
from inlet_common import exactjson
from inlet_store.domain import Applied, EntityTypeDef, Outcome, PlannedRecord
from inlet_store.service import Store

TYPE_NAMES = {
    entity_pb2.FIELD_TYPE_TEXT: "text",
    entity_pb2.FIELD_TYPE_EMAIL: "email",
    entity_pb2.FIELD_TYPE_PHONE: "phone",
    entity_pb2.FIELD_TYPE_NUMBER: "number",
    entity_pb2.FIELD_TYPE_INTEGER: "integer",
    entity_pb2.FIELD_TYPE_BOOLEAN: "boolean",
    entity_pb2.FIELD_TYPE_DATETIME: "datetime",
    entity_pb2.FIELD_TYPE_REFERENCE: "reference",
}
_TYPE_ENUMS = {name: value for value, name in TYPE_NAMES.items()}


def entity_type_pb(t: EntityTypeDef) -> entity_pb2.EntityType:
    return entity_pb2.EntityType(
        name=f"workspaces/{t.workspace_id}/entityTypes/{t.id}",
        id=t.id,
        slug=t.slug,
        display_name=t.display_name,
        fields=[
            entity_pb2.Field(
                slug=f.slug,
                display_name=f.display_name,
                type=_TYPE_ENUMS[f.type],
                unique=f.unique,
                required=f.required,
                reference_entity_type=f.reference_entity_type,
            )
            for f in t.fields
        ],
    )


def _outcome_pb(o: Outcome) -> result_pb2.EntityResult:
    return result_pb2.EntityResult(id=o.id, action=o.action, matched_on=list(o.matched_on))


def _planned(p: store_pb2.PlannedRecord) -> PlannedRecord:
    return PlannedRecord(
        entity_type_id=p.entity_type_id,
        values=exactjson.from_raw(p.values, {}),
        unique_fields=tuple(p.unique_fields),
        missing_required=tuple(p.missing_required),
        references=dict(p.references),
    )


def _applied_pb(applied: Applied) -> store_pb2.ApplyPlanResponse:
    return store_pb2.ApplyPlanResponse(
        record=_outcome_pb(applied.record),
        related={slug: _outcome_pb(o) for slug, o in applied.related.items()},
        replayed=applied.replayed,
    )


class StoreServicer(store_pb2_grpc.StoreServiceServicer):
    def __init__(self, store: Store) -> None:
        self.store = store

    async def ResolveEndpoint(
        self, request: store_pb2.ResolveEndpointRequest, context: Any
    ) -> store_pb2.ResolveEndpointResponse:
        opened = await self.store.open_push(
            request.token, idempotency_key=request.idempotency_key, body_hash=request.body_hash
        )
        found = opened.endpoint
        return store_pb2.ResolveEndpointResponse(
            workspace_id=found.workspace_id,
            endpoint_id=found.id,
            default_region=found.default_region,
            entity_type=entity_type_pb(found.entity_type),
            referenced_types={slug: entity_type_pb(t) for slug, t in found.referenced.items()},
            rate_limit=opened.rate,
            replay=_applied_pb(opened.replay[1]) if opened.replay else None,
        )

    async def ApplyPlan(
        self, request: store_pb2.ApplyPlanRequest, context: Any
    ) -> store_pb2.ApplyPlanResponse:
        applied = await self.store.apply_plan(
            workspace_id=request.workspace_id,
            endpoint_id=request.endpoint_id,
            request_id=request.request_id,
            record=_planned(request.record),
            related={slug: _planned(p) for slug, p in request.related.items()},
            idempotency_key=request.idempotency_key,
            body_hash=request.body_hash,
        )
        return _applied_pb(applied)

    async def RecordActivity(
        self, request: store_pb2.RecordActivityRequest, context: Any
    ) -> store_pb2.RecordActivityResponse:
        await self.store.record_activity(
            endpoint_id=request.endpoint_id,
            request_id=request.request_id,
            status_code=request.status_code,
            outcome=exactjson.from_raw(request.outcome, {}),
        )
        return store_pb2.RecordActivityResponse()
