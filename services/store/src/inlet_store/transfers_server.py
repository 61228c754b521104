"""StoreService's push-transfer RPCs: protobuf ↔ domain only, the work is in Transfers."""

from __future__ import annotations

from typing import Any

from inlet.ingest.v1 import ingest_pb2
from inlet.store.v1 import store_pb2
from inlet_common import exactjson, logs
from inlet_common.errors import Violation
from inlet_store import repository as repo
from inlet_store.errors import wrap_exceptions
from inlet_store.external import External
from inlet_store.external_server import ExternalStoreServicer
from inlet_store.inbox import Inbox
from inlet_store.inbox.server import list_value, reference_type_ids
from inlet_store.server import _planned as planned
from inlet_store.server import entity_type_pb
from inlet_store.service import Store
from inlet_store.transfer_apply import TransferApplier
from inlet_store.transfer_items import PushEntity, PushItem
from inlet_store.transfer_requests import TransferData, TransferRequest
from inlet_store.transfers import Transfers


def transfer_request(request: store_pb2.AcceptPushTransferRequest) -> TransferRequest:
    webhooks = exactjson.from_raw(request.webhooks, {})
    return TransferRequest(
        api_key=request.api_key,
        idempotency_key=request.idempotency_key,
        body_hash=request.body_hash,
        session_id=request.session_id,
        endgrate_type=request.endgrate_type,
        items=list_value(request.transfer_data),
        association_types=dict(request.association_types),
        webhooks=webhooks if isinstance(webhooks, dict) else {},
        webhook_concurrency=request.webhook_concurrency,
        disable_upsert=request.disable_upsert,
        sample_data=request.sample_data,
        violations=tuple(Violation(v.field, v.message, v.code) for v in request.violations),
        rejection=request.rejection,
        rejection_reason=request.rejection_reason,
    )


def push_data_pb(found: TransferData) -> ingest_pb2.GetPushDataResponse:
    """GET /api/push/data's answer: every processed item in push order, errors apart."""
    items: list[ingest_pb2.PushTransferItem] = []
    errors: list[ingest_pb2.PushTransferError] = []
    for row in found.items:
        items.append(
            ingest_pb2.PushTransferItem(
                index=row["item_index"],
                id=str(row["record_id"] or ""),
                internal_id=row["internal_id"] or "",
                data=exactjson.to_raw(row["data"] or {}),
                associations=exactjson.to_raw(row["associations"] or {}),
                action=row["action"],
            )
        )
        error = row["error"]
        if error:
            errors.append(
                ingest_pb2.PushTransferError(
                    index=row["item_index"],
                    internal_id=row["internal_id"] or "",
                    error_type=str(error.get("error_type", "transfer_data")),
                    code=str(error.get("code", "")),
                    message=str(error.get("message", "")),
                    fields=[
                        ingest_pb2.IngestFieldError(
                            field=f["field"], code=f["code"], message=f["message"]
                        )
                        for f in error.get("fields", [])
                    ],
                )
            )
    return ingest_pb2.GetPushDataResponse(
        success=True,
        transfer_id=found.transfer_id,
        session_id=found.session_id,
        endgrate_type=found.endgrate_type,
        completed=found.completed,
        transfer_data=items,
        transfer_errors=bool(errors),
        errors=errors,
        items_received=found.items_received,
        items_processed=found.items_processed,
    )


def _entity(e: store_pb2.PlannedPushEntity) -> PushEntity:
    return PushEntity(
        endgrate_type=e.endgrate_type,
        path=e.path,
        record=planned(e.record),
        id=e.id,
        internal_id=e.internal_id,
    )


def _push_item(i: store_pb2.PlannedPushItem) -> PushItem:
    return PushItem(
        index=i.index,
        internal_id=i.internal_id,
        entity=_entity(i.entity) if i.HasField("entity") else None,
        associations=tuple(_entity(a) for a in i.associations),
        error=exactjson.from_raw(i.error) if i.HasField("error") else None,
    )


class PushStoreServicer(ExternalStoreServicer):
    """StoreService with the push-transfer RPCs besides stream and integration ingest's."""

    def __init__(
        self, store: Store, inbox: Inbox, external: External, transfers: Transfers
    ) -> None:
        super().__init__(store, inbox, external)
        self.transfers = transfers
        self.applier = TransferApplier(transfers.pool, store)

    async def ClaimStreamRequests(
        self, request: store_pb2.ClaimStreamRequestsRequest, context: Any
    ) -> store_pb2.ClaimStreamRequestsResponse:
        found = await super().ClaimStreamRequests(request, context)
        for claimed in found.claims:
            if claimed.source == "push":
                claimed.push.CopyFrom(await self._push_claim(claimed.request_id))
        return found

    async def _push_claim(self, request_id: str) -> store_pb2.PushClaim:
        """The claimed transfer's session types (each with its entity type and map)."""
        async with wrap_exceptions(), self.transfers.pool.connection() as conn:
            context = await TransferApplier.context(conn, request_id)
            types = await repo.rows(conn, "session_types", session_ids=[context.session_id])
            entity_types = await repo.entity_types(conn, [str(t["entity_type_id"]) for t in types])
            found = await repo.row(conn, "transfer_of_request", request_id=request_id)
        assert found is not None
        return store_pb2.PushClaim(
            transfer_id=context.id,
            session_id=context.session_id,
            endgrate_type=context.endgrate_type,
            disable_upsert=context.disable_upsert,
            sample_data=context.sample,
            default_region=found["default_region"],
            types=[
                store_pb2.PushSessionType(
                    endgrate_type=t["endgrate_type"],
                    entity_type=entity_type_pb(entity_types[str(t["entity_type_id"])]),
                    field_map=dict(t["field_map"]),
                    reference_type_ids=reference_type_ids(entity_types[str(t["entity_type_id"])]),
                )
                for t in types
            ],
        )

    async def ApplyPushItems(
        self, request: store_pb2.ApplyPushItemsRequest, context: Any
    ) -> store_pb2.ApplyPushItemsResponse:
        applied, failed, status = await self.applier.apply(
            request_id=request.request_id,
            lease_token=request.lease_token,
            lease_seconds=max(1, request.lease_seconds),
            items=[_push_item(i) for i in request.items],
            finish=request.finish,
        )
        return store_pb2.ApplyPushItemsResponse(applied=applied, failed=failed, status=status)

    async def AcceptPushTransfer(
        self, request: store_pb2.AcceptPushTransferRequest, context: Any
    ) -> store_pb2.AcceptPushTransferResponse:
        accepted = await self.transfers.accept(logs.request_id.get(), transfer_request(request))
        return store_pb2.AcceptPushTransferResponse(
            transfer_id=accepted.transfer_id,
            replayed=accepted.replayed,
            rate_limit=accepted.rate,
            items_received=accepted.items_received,
        )

    async def GetPushTransfer(
        self, request: store_pb2.GetPushTransferRequest, context: Any
    ) -> store_pb2.GetPushTransferResponse:
        found = await self.transfers.data(
            api_key=request.api_key,
            transfer_id=request.transfer_id,
            summary_only=request.summary_only,
        )
        return store_pb2.GetPushTransferResponse(data=push_data_pb(found))
