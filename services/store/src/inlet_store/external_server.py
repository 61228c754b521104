"""StoreService's integration-ingest RPCs: protobuf ↔ domain only, the work is in
external.External."""

from __future__ import annotations

from typing import Any

from inlet.ingest.v1 import external_pb2
from inlet.store.v1 import store_pb2
from inlet.type.v1 import result_pb2
from inlet_common import exactjson, logs
from inlet_common.errors import Violation
from inlet_store.external import External, FormSubmission
from inlet_store.inbox import Inbox, StreamSchema
from inlet_store.inbox.server import InboxStoreServicer, outcome_pb, schema_pb
from inlet_store.server import _planned as planned
from inlet_store.service import Store
from inlet_store.streams import PayloadTooLarge


def _rfc3339(when: Any) -> str:
    return when.isoformat().replace("+00:00", "Z") if when is not None else ""


class ExternalStoreServicer(InboxStoreServicer):
    """StoreService with the integration-ingest RPCs besides stream ingest's."""

    def __init__(self, store: Store, inbox: Inbox, external: External) -> None:
        super().__init__(store, inbox)
        self.external = external

    async def AcceptIntegrationRequest(
        self, request: store_pb2.AcceptIntegrationRequestRequest, context: Any
    ) -> store_pb2.AcceptIntegrationRequestResponse:
        accepted = await self.external.accept(
            # The id of the call's x-request-id: the one the client is shown.
            request_id=logs.request_id.get(),
            project_token=request.project_token,
            integration_id=request.integration_id,
            body=request.body,
            content_type=request.content_type,
            idempotency_key=request.idempotency_key,
            rejection=(
                request.rejection if request.rejection_reason == PayloadTooLarge.reason else ""
            ),
        )
        return store_pb2.AcceptIntegrationRequestResponse(
            request_id=accepted.request_id,
            integration_id=accepted.name,
            items_received=accepted.items_received,
            replayed=accepted.replayed,
            rate_limit=accepted.rate,
        )

    async def GetIntegrationRequestStatus(
        self, request: store_pb2.GetIntegrationRequestStatusRequest, context: Any
    ) -> store_pb2.GetIntegrationRequestStatusResponse:
        found = await self.external.status(
            project_token=request.project_token, request_id=request.request_id
        )
        return store_pb2.GetIntegrationRequestStatusResponse(
            status=external_pb2.GetDataIngestionStatusResponse(
                request_id=found.request_id,
                integration_id=found.integration,
                status=found.status,
                items_received=found.items_received,
                items_processed=found.items_processed,
                items_failed=found.items_failed,
                created_at=_rfc3339(found.create_time),
                completed_at=_rfc3339(found.finish_time),
                items=[outcome_pb(o) for o in found.items],
            )
        )

    async def PingProjectToken(
        self, request: store_pb2.PingProjectTokenRequest, context: Any
    ) -> store_pb2.PingProjectTokenResponse:
        workspace_id = await self.external.ping(project_token=request.project_token)
        return store_pb2.PingProjectTokenResponse(workspace_id=workspace_id)

    async def SubmitForm(
        self, request: store_pb2.SubmitFormRequest, context: Any
    ) -> store_pb2.SubmitFormResponse:
        answer = await self.external.submit_form(
            FormSubmission(
                client_token=request.client_token,
                origin=request.origin,
                schema_version=request.schema_version,
                record=planned(request.record) if request.HasField("record") else None,
                violations=tuple(Violation(v.field, v.message, v.code) for v in request.violations),
                submission=exactjson.from_raw(request.submission, {}),
                rejection=request.rejection,
                rejection_reason=request.rejection_reason,
            )
        )
        if isinstance(answer, StreamSchema):
            return store_pb2.SubmitFormResponse(schema=schema_pb(answer))
        return store_pb2.SubmitFormResponse(
            record=result_pb2.EntityResult(
                id=answer.record.id,
                action=answer.record.action,
                matched_on=list(answer.record.matched_on),
            ),
            rate_limit=answer.rate,
        )
