"""gRPC servicer of the admin API: protobuf ↔ domain only; the work is in admin.Admin."""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet_common.errors import InvalidArgument, Violation
from inlet_common.structs import to_struct
from inlet_store.admin import Admin
from inlet_store.domain import Endpoint, FieldDef
from inlet_store.server import TYPE_NAMES, entity_type_pb


def _endpoint_pb(e: Endpoint) -> admin_pb2.IngestEndpoint:
    created = timestamp_pb2.Timestamp()
    created.FromDatetime(e.create_time)
    return admin_pb2.IngestEndpoint(
        name=f"workspaces/{e.workspace_id}/ingestEndpoints/{e.id}",
        id=e.id,
        display_name=e.display_name,
        entity_type=e.entity_type,
        enabled=e.enabled,
        default_region=e.default_region,
        create_time=created,
    )


def _name_parts(field: str, name: str, *collections: str) -> list[str]:
    """Ids from a resource name such as workspaces/{w}/ingestEndpoints/{e}."""
    parts = name.split("/")
    expected = len(collections) * 2
    if len(parts) != expected or [parts[i] for i in range(0, expected, 2)] != list(collections):
        pattern = "/".join(f"{c}/{{{c[:-1]}}}" for c in collections)
        raise InvalidArgument(
            f"{field} must look like {pattern}",
            violations=[Violation(field, f"malformed resource name {name!r}", "INVALID_NAME")],
        )
    return [parts[i] for i in range(1, expected, 2)]


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, admin: Admin) -> None:
        self.store = admin

    async def CreateWorkspace(
        self, request: admin_pb2.CreateWorkspaceRequest, context: Any
    ) -> admin_pb2.CreateWorkspaceResponse:
        w = await self.store.create_workspace(
            request.workspace.slug, request.workspace.display_name
        )
        return admin_pb2.CreateWorkspaceResponse(
            workspace=_workspace_pb(w.id, w.slug, w.display_name)
        )

    async def GetWorkspace(
        self, request: admin_pb2.GetWorkspaceRequest, context: Any
    ) -> admin_pb2.GetWorkspaceResponse:
        (key,) = _name_parts("name", request.name, "workspaces")
        w = await self.store.get_workspace(key)
        return admin_pb2.GetWorkspaceResponse(workspace=_workspace_pb(w.id, w.slug, w.display_name))

    async def CreateEntityType(
        self, request: admin_pb2.CreateEntityTypeRequest, context: Any
    ) -> admin_pb2.CreateEntityTypeResponse:
        (workspace,) = _name_parts("parent", request.parent, "workspaces")
        t = request.entity_type
        created = await self.store.create_entity_type(
            workspace,
            t.slug,
            t.display_name,
            [
                FieldDef(
                    slug=f.slug,
                    display_name=f.display_name,
                    type=TYPE_NAMES.get(f.type, "unspecified"),
                    unique=f.unique,
                    required=f.required,
                    reference_entity_type=f.reference_entity_type,
                )
                for f in t.fields
            ],
        )
        return admin_pb2.CreateEntityTypeResponse(entity_type=entity_type_pb(created))

    async def GetEntityType(
        self, request: admin_pb2.GetEntityTypeRequest, context: Any
    ) -> admin_pb2.GetEntityTypeResponse:
        workspace, key = _name_parts("name", request.name, "workspaces", "entityTypes")
        found = await self.store.get_entity_type(workspace, key)
        return admin_pb2.GetEntityTypeResponse(entity_type=entity_type_pb(found))

    async def CreateIngestEndpoint(
        self, request: admin_pb2.CreateIngestEndpointRequest, context: Any
    ) -> admin_pb2.CreateIngestEndpointResponse:
        (workspace,) = _name_parts("parent", request.parent, "workspaces")
        e = request.ingest_endpoint
        endpoint, token = await self.store.create_endpoint(
            workspace, e.display_name, e.entity_type, e.default_region
        )
        return admin_pb2.CreateIngestEndpointResponse(
            ingest_endpoint=_endpoint_pb(endpoint),
            token=token,
            url_path=f"/api/v1/ingest/{token}",
        )

    async def UpdateIngestEndpoint(
        self, request: admin_pb2.UpdateIngestEndpointRequest, context: Any
    ) -> admin_pb2.UpdateIngestEndpointResponse:
        e = request.ingest_endpoint
        workspace, key = _name_parts(
            "ingest_endpoint.name", e.name, "workspaces", "ingestEndpoints"
        )
        unknown = set(request.update_mask) - {"display_name", "enabled"}
        if unknown or not request.update_mask:
            raise InvalidArgument(
                "update_mask must name display_name and/or enabled",
                violations=[
                    Violation("update_mask", f"unsupported paths {sorted(unknown)}", "INVALID_MASK")
                ],
            )
        updated = await self.store.update_endpoint(
            workspace,
            key,
            display_name=e.display_name if "display_name" in request.update_mask else None,
            enabled=e.enabled if "enabled" in request.update_mask else None,
        )
        return admin_pb2.UpdateIngestEndpointResponse(ingest_endpoint=_endpoint_pb(updated))

    async def ListActivityEntries(
        self, request: admin_pb2.ListActivityEntriesRequest, context: Any
    ) -> admin_pb2.ListActivityEntriesResponse:
        workspace, key = _name_parts("parent", request.parent, "workspaces", "ingestEndpoints")
        entries, next_token = await self.store.list_activity(
            workspace, key, request.page_size, request.page_token
        )
        out = []
        for entry in entries:
            created = timestamp_pb2.Timestamp()
            created.FromDatetime(entry.create_time)
            out.append(
                admin_pb2.ActivityEntry(
                    id=str(entry.id),
                    request_id=entry.request_id,
                    status_code=entry.status_code,
                    outcome=to_struct(entry.outcome),
                    create_time=created,
                )
            )
        return admin_pb2.ListActivityEntriesResponse(
            activity_entries=out, next_page_token=next_token
        )


def _workspace_pb(id_: str, slug: str, display_name: str) -> admin_pb2.Workspace:
    return admin_pb2.Workspace(
        name=f"workspaces/{id_}", id=id_, slug=slug, display_name=display_name
    )
