"""gRPC servicer of the admin API: credentials and protobuf ↔ domain; the work is in admin.Admin."""

from __future__ import annotations

from typing import Any

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet_common import exactjson
from inlet_common.admin import names
from inlet_common.admin.timestamps import optional_time, timestamp
from inlet_common.masks import update_paths
from inlet_store.admin.auth import Authenticator, WorkspaceScoped
from inlet_store.admin.use_cases import Admin
from inlet_store.domain import Endpoint, FieldDef, StoredRecord
from inlet_store.server import TYPE_NAMES, entity_type_pb

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


def _record_pb(r: StoredRecord) -> admin_pb2.Record:
    return admin_pb2.Record(
        name=names.name(
            "workspaces", r.workspace_id, "entityTypes", r.entity_type, "records", r.id
        ),
        id=r.id,
        entity_type=r.entity_type,
        values=exactjson.to_raw(r.values),
        create_time=timestamp(r.create_time),
        update_time=timestamp(r.update_time),
    )


def _field_def(f: Any) -> FieldDef:
    return FieldDef(
        slug=f.slug,
        display_name=f.display_name,
        type=TYPE_NAMES.get(f.type, "unspecified"),
        unique=f.unique,
        required=f.required,
        reference_entity_type=f.reference_entity_type,
    )


class AdminServicer(WorkspaceScoped, admin_pb2_grpc.AdminServiceServicer):
    auth: Authenticator

    def __init__(self, admin: Admin, auth: Authenticator) -> None:
        self.store = admin
        self.auth = auth

    # -- workspaces and tokens --------------------------------------------------------------

    async def CreateWorkspace(
        self, request: admin_pb2.CreateWorkspaceRequest, context: Any
    ) -> admin_pb2.CreateWorkspaceResponse:
        self.auth.bootstrap(context.invocation_metadata())
        w, token = await self.store.create_workspace(
            request.workspace.slug, request.workspace.display_name
        )
        return admin_pb2.CreateWorkspaceResponse(
            workspace=_workspace_pb(w.id, w.slug, w.display_name), admin_token=token
        )

    async def CreateAdminToken(
        self, request: admin_pb2.CreateAdminTokenRequest, context: Any
    ) -> admin_pb2.CreateAdminTokenResponse:
        self.auth.bootstrap(context.invocation_metadata())
        (key,) = names.parts("parent", request.parent, "workspaces")
        return admin_pb2.CreateAdminTokenResponse(
            admin_token=await self.store.create_admin_token(key)
        )

    async def GetWorkspace(
        self, request: admin_pb2.GetWorkspaceRequest, context: Any
    ) -> admin_pb2.GetWorkspaceResponse:
        (key,) = await self._authorised(context, "name", request.name, "workspaces")
        w = await self.store.get_workspace(key)
        return admin_pb2.GetWorkspaceResponse(workspace=_workspace_pb(w.id, w.slug, w.display_name))

    # -- entity types and fields ------------------------------------------------------------

    async def CreateEntityType(
        self, request: admin_pb2.CreateEntityTypeRequest, context: Any
    ) -> admin_pb2.CreateEntityTypeResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        t = request.entity_type
        created = await self.store.create_entity_type(
            workspace, t.slug, t.display_name, [_field_def(f) for f in t.fields]
        )
        return admin_pb2.CreateEntityTypeResponse(entity_type=entity_type_pb(created))

    async def GetEntityType(
        self, request: admin_pb2.GetEntityTypeRequest, context: Any
    ) -> admin_pb2.GetEntityTypeResponse:
        workspace, key = await self._authorised(
            context, "name", request.name, "workspaces", "entityTypes"
        )
        found = await self.store.get_entity_type(workspace, key)
        return admin_pb2.GetEntityTypeResponse(entity_type=entity_type_pb(found))

    async def ListEntityTypes(
        self, request: admin_pb2.ListEntityTypesRequest, context: Any
    ) -> admin_pb2.ListEntityTypesResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        page, next_token = await self.store.list_entity_types(
            workspace, request.page_size, request.page_token
        )
        return admin_pb2.ListEntityTypesResponse(
            entity_types=[entity_type_pb(t) for t in page], next_page_token=next_token
        )

    async def DeleteEntityType(
        self, request: admin_pb2.DeleteEntityTypeRequest, context: Any
    ) -> admin_pb2.DeleteEntityTypeResponse:
        workspace, key = await self._authorised(
            context, "name", request.name, "workspaces", "entityTypes"
        )
        await self.store.delete_entity_type(workspace, key)
        return admin_pb2.DeleteEntityTypeResponse()

    async def CreateField(
        self, request: admin_pb2.CreateFieldRequest, context: Any
    ) -> admin_pb2.CreateFieldResponse:
        workspace, key = await self._authorised(
            context, "parent", request.parent, "workspaces", "entityTypes"
        )
        changed = await self.store.create_field(workspace, key, _field_def(request.field))
        return admin_pb2.CreateFieldResponse(entity_type=entity_type_pb(changed))

    async def UpdateField(
        self, request: admin_pb2.UpdateFieldRequest, context: Any
    ) -> admin_pb2.UpdateFieldResponse:
        workspace, key, slug = await self._authorised(
            context, "field.name", request.field.name, "workspaces", "entityTypes", "fields"
        )
        f = request.field.field
        mask = update_paths(
            request.update_mask,
            f,
            updatable=("display_name", "unique", "required"),
            # FieldResource.name and the slug identify the field: they change nothing.
            ignored=("name", "slug"),
            prefix="field.",
        )
        changed, backfilled = await self.store.update_field(
            workspace,
            key,
            slug,
            display_name=f.display_name if "display_name" in mask else None,
            unique=f.unique if "unique" in mask else None,
            required=f.required if "required" in mask else None,
        )
        return admin_pb2.UpdateFieldResponse(
            entity_type=entity_type_pb(changed), backfilled_keys=backfilled
        )

    async def DeleteField(
        self, request: admin_pb2.DeleteFieldRequest, context: Any
    ) -> admin_pb2.DeleteFieldResponse:
        workspace, key, slug = await self._authorised(
            context, "name", request.name, "workspaces", "entityTypes", "fields"
        )
        changed = await self.store.delete_field(workspace, key, slug)
        return admin_pb2.DeleteFieldResponse(entity_type=entity_type_pb(changed))

    # -- ingest endpoints -------------------------------------------------------------------

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

    async def GetRecord(
        self, request: admin_pb2.GetRecordRequest, context: Any
    ) -> admin_pb2.GetRecordResponse:
        workspace, key, record_id = await self._authorised(
            context, "name", request.name, "workspaces", "entityTypes", "records"
        )
        found = await self.store.get_record_in(workspace, key, record_id)
        return admin_pb2.GetRecordResponse(record=_record_pb(found))

    async def ListRecords(
        self, request: admin_pb2.ListRecordsRequest, context: Any
    ) -> admin_pb2.ListRecordsResponse:
        workspace, key = await self._authorised(
            context, "parent", request.parent, "workspaces", "entityTypes"
        )
        page, next_token = await self.store.list_records(
            workspace, key, request.page_size, request.page_token
        )
        return admin_pb2.ListRecordsResponse(
            records=[_record_pb(r) for r in page], next_page_token=next_token
        )

    async def LookupRecord(
        self, request: admin_pb2.LookupRecordRequest, context: Any
    ) -> admin_pb2.LookupRecordResponse:
        workspace, key = await self._authorised(
            context, "parent", request.parent, "workspaces", "entityTypes"
        )
        found = await self.store.lookup_record(
            workspace, key, request.field, request.value, request.default_region
        )
        return admin_pb2.LookupRecordResponse(record=_record_pb(found))

    async def ListRecordRequests(
        self, request: admin_pb2.ListRecordRequestsRequest, context: Any
    ) -> admin_pb2.ListRecordRequestsResponse:
        workspace, key, record_id = await self._authorised(
            context, "parent", request.parent, "workspaces", "entityTypes", "records"
        )
        page, next_token = await self.store.list_record_requests(
            workspace, key, record_id, request.page_size, request.page_token
        )
        return admin_pb2.ListRecordRequestsResponse(
            record_requests=[
                admin_pb2.RecordRequest(
                    request_id=r.request_id,
                    dialect=r.dialect,
                    source=r.source,
                    action=r.action,
                    entity=r.entity,
                    create_time=timestamp(r.create_time),
                )
                for r in page
            ],
            next_page_token=next_token,
        )

    # -- the overview -------------------------------------------------------------------------

    async def SummarizeActivity(
        self, request: admin_pb2.SummarizeActivityRequest, context: Any
    ) -> admin_pb2.SummarizeActivityResponse:
        (workspace,) = await self._authorised(context, "workspace", request.workspace, "workspaces")
        summaries, counted_from = await self.store.summarize_activity(
            workspace, optional_time(request, "start_time")
        )
        return admin_pb2.SummarizeActivityResponse(
            dialects=[
                admin_pb2.DialectActivity(
                    dialect=d.dialect,
                    request_count=d.request_count,
                    error_count=d.error_count,
                    last_request_time=timestamp(d.last_request_time),
                    source_count=d.source_count,
                )
                for d in summaries
            ],
            start_time=timestamp(counted_from),
        )


def _workspace_pb(id_: str, slug: str, display_name: str) -> admin_pb2.Workspace:
    return admin_pb2.Workspace(
        name=names.name("workspaces", id_), id=id_, slug=slug, display_name=display_name
    )
