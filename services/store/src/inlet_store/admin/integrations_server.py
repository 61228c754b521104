"""IntegrationAdminService: protobuf ↔ domain only; the work is in
integrations.IntegrationAdmin. Authenticated with the workspace's admin tokens."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from inlet.admin.v1 import integrations_pb2, integrations_pb2_grpc
from inlet.ingest.v1 import ingest_pb2
from inlet_common import exactjson
from inlet_common.admin.timestamps import timestamp
from inlet_common.errors import InvalidArgument
from inlet_common.masks import update_paths
from inlet_store.admin.auth import Authenticator, WorkspaceScoped
from inlet_store.admin.integration_tokens import ClientTokenValues
from inlet_store.admin.integrations import IntegrationAdmin, IntegrationValues
from inlet_store.external_tokens import CLIENT, PROJECT, prefix

_ACTIVITY_PARENTS = ("integrations", "projectTokens", "clientTokens")


def project_token_pb(workspace_id: str, t: dict[str, Any]) -> integrations_pb2.ProjectToken:
    return integrations_pb2.ProjectToken(
        name=f"workspaces/{workspace_id}/projectTokens/{t['id']}",
        display_name=t["display_name"],
        prefix=prefix(PROJECT, t["id"]),
        create_time=timestamp(t["create_time"]),
        expire_time=timestamp(t["expire_time"]),
        revoke_time=timestamp(t["revoke_time"]),
    )


def integration_pb(i: dict[str, Any]) -> integrations_pb2.Integration:
    return integrations_pb2.Integration(
        name=f"workspaces/{i['workspace_id']}/integrations/{i['slug']}",
        id=i["slug"],
        display_name=i["display_name"],
        type=i["type"],
        entity_type=i["entity_type"],
        enabled=i["enabled"],
        default_region=i["default_region"],
        mapping=exactjson.to_raw(i["mapping"]) if i["mapping"] is not None else None,
        max_body_bytes=i["max_body_bytes"],
        rate_limit=i["rate_limit"],
        rate_window_seconds=i["rate_window_seconds"],
        create_time=timestamp(i["create_time"]),
        update_time=timestamp(i["update_time"]),
    )


def client_token_pb(workspace_id: str, c: dict[str, Any]) -> integrations_pb2.ClientToken:
    return integrations_pb2.ClientToken(
        name=f"workspaces/{workspace_id}/clientTokens/{c['id']}",
        display_name=c["display_name"],
        entity_type=c["entity_type"],
        default_region=c["default_region"],
        allowed_origins=list(c["allowed_origins"]),
        rate_limit=c["rate_limit"],
        rate_window_seconds=c["rate_window_seconds"],
        prefix=prefix(CLIENT, c["id"]),
        create_time=timestamp(c["create_time"]),
        revoke_time=timestamp(c["revoke_time"]),
    )


def activity_pb(e: dict[str, Any]) -> integrations_pb2.ExternalActivityEntry:
    errors = [e["error"]] if e["error"] else list(e["item_errors"] or [])
    return integrations_pb2.ExternalActivityEntry(
        create_time=timestamp(e["create_time"]),
        request_id=e["request_id"],
        route=e["route"],
        status=e["status"],
        status_code=e["status_code"],
        items_received=e["items_now"],
        items_failed=e["items_failed"],
        errors=[exactjson.to_raw(err) for err in errors],
        result=exactjson.to_raw(e["result"]) if e["result"] is not None else None,
        integration=e["integration"] or "",
        token=e["key_id"],
        client_request_id=e["client_request_id"],
        replay_of=e["replay_of"] or "",
    )


def integration_values(i: integrations_pb2.Integration) -> IntegrationValues:
    return IntegrationValues(
        display_name=i.display_name,
        type=i.type,
        entity_type=i.entity_type,
        enabled=i.enabled,
        default_region=i.default_region,
        mapping=_mapping(i),
        max_body_bytes=i.max_body_bytes,
        rate_limit=i.rate_limit,
        rate_window_seconds=i.rate_window_seconds,
    )


def _mapping(i: integrations_pb2.Integration) -> Any:
    if not i.HasField("mapping") or not i.mapping.json:
        return None
    try:
        return exactjson.loads(i.mapping.json)
    except exactjson.DecodeError as error:
        raise InvalidArgument(
            f"integration.mapping is not JSON: {error}", reason="INVALID_ARGUMENT"
        ) from None


def client_token_values(c: integrations_pb2.ClientToken) -> ClientTokenValues:
    return ClientTokenValues(
        display_name=c.display_name,
        entity_type=c.entity_type,
        default_region=c.default_region,
        allowed_origins=tuple(c.allowed_origins),
        rate_limit=c.rate_limit,
        rate_window_seconds=c.rate_window_seconds,
    )


class IntegrationAdminServicer(
    WorkspaceScoped, integrations_pb2_grpc.IntegrationAdminServiceServicer
):
    def __init__(self, admin: IntegrationAdmin, auth: Authenticator) -> None:
        self.admin = admin
        self.auth = auth

    # -- project tokens ---------------------------------------------------------------------

    async def CreateProjectToken(
        self, request: integrations_pb2.CreateProjectTokenRequest, context: Any
    ) -> integrations_pb2.CreateProjectTokenResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        workspace_id, created, secret = await self.admin.create_project_token(
            workspace, request.project_token.display_name
        )
        return integrations_pb2.CreateProjectTokenResponse(
            project_token=project_token_pb(workspace_id, created), secret=secret
        )

    async def ListProjectTokens(
        self, request: integrations_pb2.ListProjectTokensRequest, context: Any
    ) -> integrations_pb2.ListProjectTokensResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        workspace_id, page, token = await self.admin.list_project_tokens(
            workspace, request.page_size, request.page_token
        )
        return integrations_pb2.ListProjectTokensResponse(
            project_tokens=[project_token_pb(workspace_id, t) for t in page], next_page_token=token
        )

    async def RevokeProjectToken(
        self, request: integrations_pb2.RevokeProjectTokenRequest, context: Any
    ) -> integrations_pb2.RevokeProjectTokenResponse:
        workspace, token_id = await self._authorised(
            context, "name", request.name, "workspaces", "projectTokens"
        )
        revoked = await self.admin.revoke_project_token(workspace, token_id)
        return integrations_pb2.RevokeProjectTokenResponse(
            project_token=project_token_pb(workspace, revoked)
        )

    async def RotateProjectToken(
        self, request: integrations_pb2.RotateProjectTokenRequest, context: Any
    ) -> integrations_pb2.RotateProjectTokenResponse:
        workspace, token_id = await self._authorised(
            context, "name", request.name, "workspaces", "projectTokens"
        )
        grace = request.grace_period.ToTimedelta().total_seconds()
        created, secret, previous = await self.admin.rotate_project_token(
            workspace, token_id, grace
        )
        return integrations_pb2.RotateProjectTokenResponse(
            project_token=project_token_pb(workspace, created),
            secret=secret,
            previous=project_token_pb(workspace, previous),
        )

    # -- integrations -----------------------------------------------------------------------

    async def CreateIntegration(
        self, request: integrations_pb2.CreateIntegrationRequest, context: Any
    ) -> integrations_pb2.CreateIntegrationResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        # A new integration is enabled: proto3 cannot tell an unset bool from false, so
        # `enabled` is ignored here and one is disabled with an update.
        values = replace(integration_values(request.integration), enabled=True)
        created = await self.admin.create_integration(workspace, request.integration_id, values)
        return integrations_pb2.CreateIntegrationResponse(integration=integration_pb(created))

    async def GetIntegration(
        self, request: integrations_pb2.GetIntegrationRequest, context: Any
    ) -> integrations_pb2.GetIntegrationResponse:
        workspace, slug = await self._authorised(
            context, "name", request.name, "workspaces", "integrations"
        )
        found = await self.admin.get_integration(workspace, slug)
        return integrations_pb2.GetIntegrationResponse(integration=integration_pb(found))

    async def ListIntegrations(
        self, request: integrations_pb2.ListIntegrationsRequest, context: Any
    ) -> integrations_pb2.ListIntegrationsResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        page, token = await self.admin.list_integrations(
            workspace, request.page_size, request.page_token
        )
        return integrations_pb2.ListIntegrationsResponse(
            integrations=[integration_pb(i) for i in page], next_page_token=token
        )

    async def UpdateIntegration(
        self, request: integrations_pb2.UpdateIntegrationRequest, context: Any
    ) -> integrations_pb2.UpdateIntegrationResponse:
        workspace, slug = await self._authorised(
            context, "integration.name", request.integration.name, "workspaces", "integrations"
        )
        mask = update_paths(
            request.update_mask,
            request.integration,
            updatable=(
                "display_name",
                "type",
                "enabled",
                "default_region",
                "mapping",
                "max_body_bytes",
                "rate_limit",
                "rate_window_seconds",
            ),
            ignored=("name", "id", "create_time", "update_time"),
        )
        changed = await self.admin.update_integration(
            workspace, slug, integration_values(request.integration), mask
        )
        return integrations_pb2.UpdateIntegrationResponse(integration=integration_pb(changed))

    async def DeleteIntegration(
        self, request: integrations_pb2.DeleteIntegrationRequest, context: Any
    ) -> integrations_pb2.DeleteIntegrationResponse:
        workspace, slug = await self._authorised(
            context, "name", request.name, "workspaces", "integrations"
        )
        await self.admin.delete_integration(workspace, slug)
        return integrations_pb2.DeleteIntegrationResponse()

    async def TestIntegrationMapping(
        self, request: integrations_pb2.TestIntegrationMappingRequest, context: Any
    ) -> integrations_pb2.TestIntegrationMappingResponse:
        workspace, slug = await self._authorised(
            context, "name", request.name, "workspaces", "integrations"
        )
        mapped = await self.admin.test_mapping(workspace, slug, request.sample.data)
        return integrations_pb2.TestIntegrationMappingResponse(
            mapping=exactjson.to_raw(mapped.spec) if mapped.spec is not None else None,
            items=[
                integrations_pb2.MappedItem(
                    index=item.index,
                    values=exactjson.to_raw(item.values),
                    related={slug: exactjson.to_raw(v) for slug, v in item.related.items()},
                    errors=[_field_error(p) for p in item.problems],
                )
                for item in mapped.items
            ],
            errors=[_field_error(p) for p in mapped.problems],
        )

    # -- client tokens ----------------------------------------------------------------------

    async def CreateClientToken(
        self, request: integrations_pb2.CreateClientTokenRequest, context: Any
    ) -> integrations_pb2.CreateClientTokenResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        workspace_id, created, secret = await self.admin.create_client_token(
            workspace, client_token_values(request.client_token)
        )
        return integrations_pb2.CreateClientTokenResponse(
            client_token=client_token_pb(workspace_id, created), secret=secret
        )

    async def ListClientTokens(
        self, request: integrations_pb2.ListClientTokensRequest, context: Any
    ) -> integrations_pb2.ListClientTokensResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        workspace_id, page, token = await self.admin.list_client_tokens(
            workspace, request.page_size, request.page_token
        )
        return integrations_pb2.ListClientTokensResponse(
            client_tokens=[client_token_pb(workspace_id, c) for c in page], next_page_token=token
        )

    async def UpdateClientToken(
        self, request: integrations_pb2.UpdateClientTokenRequest, context: Any
    ) -> integrations_pb2.UpdateClientTokenResponse:
        workspace, token_id = await self._authorised(
            context, "client_token.name", request.client_token.name, "workspaces", "clientTokens"
        )
        mask = update_paths(
            request.update_mask,
            request.client_token,
            updatable=("display_name", "allowed_origins", "rate_limit", "rate_window_seconds"),
            ignored=("name", "prefix", "create_time", "revoke_time"),
        )
        workspace_id, changed = await self.admin.update_client_token(
            workspace, token_id, client_token_values(request.client_token), mask
        )
        return integrations_pb2.UpdateClientTokenResponse(
            client_token=client_token_pb(workspace_id, changed)
        )

    async def RevokeClientToken(
        self, request: integrations_pb2.RevokeClientTokenRequest, context: Any
    ) -> integrations_pb2.RevokeClientTokenResponse:
        workspace, token_id = await self._authorised(
            context, "name", request.name, "workspaces", "clientTokens"
        )
        workspace_id, revoked = await self.admin.revoke_client_token(workspace, token_id)
        return integrations_pb2.RevokeClientTokenResponse(
            client_token=client_token_pb(workspace_id, revoked)
        )

    # -- activity ---------------------------------------------------------------------------

    async def ListExternalActivityEntries(
        self, request: integrations_pb2.ListExternalActivityEntriesRequest, context: Any
    ) -> integrations_pb2.ListExternalActivityEntriesResponse:
        collection = request.parent.split("/")[2] if request.parent.count("/") == 3 else ""
        if collection not in _ACTIVITY_PARENTS:
            collection = _ACTIVITY_PARENTS[0]  # _parts names the expected form
        workspace, key = await self._authorised(
            context, "parent", request.parent, "workspaces", collection
        )
        page, token = await self.admin.activity(
            workspace, collection, key, request.page_size, request.page_token
        )
        return integrations_pb2.ListExternalActivityEntriesResponse(
            external_activity_entries=[activity_pb(e) for e in page], next_page_token=token
        )


def _field_error(p: Any) -> ingest_pb2.IngestFieldError:
    return ingest_pb2.IngestFieldError(field=p.field, code=p.reason, message=p.description)
