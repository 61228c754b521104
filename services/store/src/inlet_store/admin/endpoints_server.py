"""AdminService's ingest endpoint RPCs and their activity log, over admin.Admin."""

from __future__ import annotations

from typing import Any

from inlet.admin.v1 import admin_pb2
from inlet_common import exactjson
from inlet_common.admin import names
from inlet_common.admin.timestamps import optional_time, timestamp
from inlet_common.masks import update_paths
from inlet_store.admin.auth import WorkspaceScoped
from inlet_store.admin.use_cases import Admin
from inlet_store.domain import Endpoint
from inlet_store.server import TYPE_NAMES

_TYPE_ENUMS = {name: value for value, name in TYPE_NAMES.items()}


def _endpoint_pb(e: Endpoint) -> admin_pb2.IngestEndpoint:
    return admin_pb2.IngestEndpoint(
        name=names.name("workspaces", e.workspace_id, "ingestEndpoints", e.id),
        id=e.id,
        display_name=e.display_name,
        entity_type=e.entity_type,
        enabled=e.enabled,
        default_region=e.default_region,
        create_time=timestamp(e.create_time),
        previous_token_expire_time=timestamp(e.previous_token_expire_time),
        rate_limit=e.rate_limit,
        rate_window_seconds=e.rate_window_seconds,
    )


class EndpointRpcs(WorkspaceScoped):
    """CreateIngestEndpoint … ListActivityEntries, for AdminServicer."""

    store: Admin

    async def CreateIngestEndpoint(
        self, request: admin_pb2.CreateIngestEndpointRequest, context: Any
    ) -> admin_pb2.CreateIngestEndpointResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        e = request.ingest_endpoint
        endpoint, token = await self.store.create_endpoint(
            workspace,
            e.display_name,
            e.entity_type,
            e.default_region,
            rate_limit=e.rate_limit,
            rate_window_seconds=e.rate_window_seconds,
        )
        return admin_pb2.CreateIngestEndpointResponse(
            ingest_endpoint=_endpoint_pb(endpoint),
            token=token,
            url_path=f"/api/v1/ingest/{token}",
        )

    async def ListIngestEndpoints(
        self, request: admin_pb2.ListIngestEndpointsRequest, context: Any
    ) -> admin_pb2.ListIngestEndpointsResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        page, next_token = await self.store.list_endpoints(
            workspace, request.page_size, request.page_token
        )
        return admin_pb2.ListIngestEndpointsResponse(
            ingest_endpoints=[_endpoint_pb(e) for e in page], next_page_token=next_token
        )

    async def GetIngestEndpoint(
        self, request: admin_pb2.GetIngestEndpointRequest, context: Any
    ) -> admin_pb2.GetIngestEndpointResponse:
        workspace, key = await self._authorised(
            context, "name", request.name, "workspaces", "ingestEndpoints"
        )
        found = await self.store.get_endpoint(workspace, key)
        return admin_pb2.GetIngestEndpointResponse(ingest_endpoint=_endpoint_pb(found))

    async def UpdateIngestEndpoint(
        self, request: admin_pb2.UpdateIngestEndpointRequest, context: Any
    ) -> admin_pb2.UpdateIngestEndpointResponse:
        e = request.ingest_endpoint
        workspace, key = await self._authorised(
            context, "ingest_endpoint.name", e.name, "workspaces", "ingestEndpoints"
        )
        mask = update_paths(
            request.update_mask,
            e,
            updatable=("display_name", "enabled", "rate_limit", "rate_window_seconds"),
            ignored=("name", "id", "create_time", "previous_token_expire_time"),
        )
        updated = await self.store.update_endpoint(
            workspace,
            key,
            display_name=e.display_name if "display_name" in mask else None,
            enabled=e.enabled if "enabled" in mask else None,
            rate_limit=e.rate_limit if "rate_limit" in mask else None,
            rate_window_seconds=e.rate_window_seconds if "rate_window_seconds" in mask else None,
        )
        return admin_pb2.UpdateIngestEndpointResponse(ingest_endpoint=_endpoint_pb(updated))

    async def RotateIngestEndpointToken(
        self, request: admin_pb2.RotateIngestEndpointTokenRequest, context: Any
    ) -> admin_pb2.RotateIngestEndpointTokenResponse:
        workspace, key = await self._authorised(
            context, "name", request.name, "workspaces", "ingestEndpoints"
        )
        grace = request.grace_period.ToTimedelta().total_seconds()
        endpoint, token = await self.store.rotate_endpoint_token(workspace, key, grace)
        return admin_pb2.RotateIngestEndpointTokenResponse(
            ingest_endpoint=_endpoint_pb(endpoint),
            token=token,
            url_path=f"/api/v1/ingest/{token}",
            previous_token_expire_time=timestamp(endpoint.previous_token_expire_time),
        )

    async def DeleteIngestEndpoint(
        self, request: admin_pb2.DeleteIngestEndpointRequest, context: Any
    ) -> admin_pb2.DeleteIngestEndpointResponse:
        workspace, key = await self._authorised(
            context, "name", request.name, "workspaces", "ingestEndpoints"
        )
        await self.store.delete_endpoint(workspace, key)
        return admin_pb2.DeleteIngestEndpointResponse()

    async def GetIngestEndpointExample(
        self, request: admin_pb2.GetIngestEndpointExampleRequest, context: Any
    ) -> admin_pb2.GetIngestEndpointExampleResponse:
        workspace, key = await self._authorised(
            context, "name", request.name, "workspaces", "ingestEndpoints"
        )
        payload, described = await self.store.endpoint_example(workspace, key)
        return admin_pb2.GetIngestEndpointExampleResponse(
            payload=exactjson.to_raw(payload),
            fields=[
                admin_pb2.ExampleField(
                    path=path, type=_TYPE_ENUMS[f.type], unique=f.unique, required=f.required
                )
                for path, f in described
            ],
        )

    async def ListActivityEntries(
        self, request: admin_pb2.ListActivityEntriesRequest, context: Any
    ) -> admin_pb2.ListActivityEntriesResponse:
        workspace, key = await self._authorised(
            context, "parent", request.parent, "workspaces", "ingestEndpoints"
        )
        entries, next_token = await self.store.list_activity(
            workspace,
            key,
            request.page_size,
            request.page_token,
            status_code=request.status_code,
            errors_only=request.errors_only,
            start_time=optional_time(request, "start_time"),
            end_time=optional_time(request, "end_time"),
        )
        return admin_pb2.ListActivityEntriesResponse(
            activity_entries=[
                admin_pb2.ActivityEntry(
                    id=str(entry.id),
                    request_id=entry.request_id,
                    status_code=entry.status_code,
                    outcome=exactjson.to_raw(entry.outcome),
                    create_time=timestamp(entry.create_time),
                    previous_token=entry.previous_token,
                    client_request_id=entry.client_request_id,
                    trace_id=entry.trace_id,
                )
                for entry in entries
            ],
            next_page_token=next_token,
        )

    # -- records ----------------------------------------------------------------------------
