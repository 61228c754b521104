"""gRPC servicer of the admin API: credentials and protobuf ↔ domain; the work is in admin.Admin."""

from __future__ import annotations

from typing import Any

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet_common.admin import names
from inlet_common.admin.timestamps import optional_time, timestamp
from inlet_common.masks import update_paths
from inlet_store.admin.auth import Authenticator
from inlet_store.admin.endpoints_server import EndpointRpcs
from inlet_store.admin.records_server import RecordRpcs
from inlet_store.admin.use_cases import Admin
from inlet_store.domain import FieldDef
from inlet_store.server import TYPE_NAMES, entity_type_pb


def _field_def(f: Any) -> FieldDef:
    return FieldDef(
        slug=f.slug,
        display_name=f.display_name,
        type=TYPE_NAMES.get(f.type, "unspecified"),
        unique=f.unique,
        required=f.required,
        reference_entity_type=f.reference_entity_type,
    )


class AdminServicer(EndpointRpcs, RecordRpcs, admin_pb2_grpc.AdminServiceServicer):
    """Workspaces, entity types, fields and the overview; endpoints and records are mixed in."""

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
