"""StoreService's push-transfer RPCs: protobuf ↔ domain only, the work is in Transfers."""

from __future__ import annotations

from typing import Any

from inlet.ingest.v1 import ingest_pb2
from inlet.store.v1 import store_pb2
from inlet_common import exactjson, logs
from inlet_common.errors import Violation
from inlet_store.external import External
from inlet_store.external_server import ExternalStoreServicer
from inlet_store.inbox import Inbox
from inlet_store.inbox_server import list_value
from inlet_store.service import Store
from inlet_store.transfers import TransferData, TransferRequest, Transfers


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


class PushStoreServicer(ExternalStoreServicer):
    """StoreService with the push-transfer RPCs besides stream and integration ingest's."""

    def __init__(
        self, store: Store, inbox: Inbox, external: External, transfers: Transfers
    ) -> None:
        super().__init__(store, inbox, external)
        self.transfers = transfers

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
