"""gRPC servicers of NotifierService (internal) and WebhookService (public): protobuf ↔
use cases only."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from inlet.notifier.v1 import notifier_pb2, notifier_pb2_grpc, webhooks_pb2, webhooks_pb2_grpc
from inlet_common.admin.auth import Metadata, WorkspaceAuth
from inlet_common.admin.auth import TokenWorkspace as TokenWorkspace  # what Authenticate gives
from inlet_common.admin.timestamps import timestamp
from inlet_common.errors import InvalidArgument, Violation
from inlet_common.masks import update_paths
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_deliveries import STATUSES
from inlet_notifier.webhook_endpoints import UPDATABLE, EndpointSpec

log = logging.getLogger(__name__)


# authorization metadata value → the workspace its admin token belongs to.
Authenticate = Callable[[str | None], Awaitable[TokenWorkspace]]


class _HeaderAuth(WorkspaceAuth):
    """The admin API's workspace auth over an `Authenticate` of the authorization header."""

    def __init__(self, authenticate: Authenticate) -> None:
        self._authenticate = authenticate

    async def token_workspace(self, metadata: Metadata) -> TokenWorkspace:
        return await self._authenticate(dict(metadata or ()).get("authorization"))


class NotifierServicer(notifier_pb2_grpc.NotifierServiceServicer):
    def __init__(self, webhooks: Webhooks) -> None:
        self.webhooks = webhooks

    async def CreateSessionEndpoint(
        self, request: notifier_pb2.CreateSessionEndpointRequest, context: Any
    ) -> notifier_pb2.CreateSessionEndpointResponse:
        endpoint_id, secret = await self.webhooks.create_session_endpoint(
            request.workspace_id, request.session_id
        )
        return notifier_pb2.CreateSessionEndpointResponse(endpoint_id=endpoint_id, secret=secret)


def endpoint_pb(row: dict[str, Any]) -> webhooks_pb2.WebhookEndpoint:
    return webhooks_pb2.WebhookEndpoint(
        name=f"workspaces/{row['workspace_id']}/webhookEndpoints/{row['id']}",
        url=row["url"],
        description=row["description"],
        event_types=row["event_types"],
        entity_type_ids=row["entity_type_ids"],
        source_ids=row["source_ids"],
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        create_time=timestamp(row["create_time"]),
        update_time=timestamp(row["update_time"]),
    )


_STATUS_PB = {
    "pending": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_PENDING,
    "succeeded": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_SUCCEEDED,
    "failed": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_FAILED,
}
_STATUS_NAME = {v: k for k, v in _STATUS_PB.items()}
assert set(_STATUS_PB) == set(STATUSES)


def delivery_pb(workspace_id: str, row: dict[str, Any]) -> webhooks_pb2.WebhookDelivery:
    return webhooks_pb2.WebhookDelivery(
        name=(
            f"workspaces/{workspace_id}/webhookEndpoints/{row['endpoint_id']}"
            f"/deliveries/{row['id']}"
        ),
        event_id=row["event_id"],
        event_type=row["event_type"],
        status=_STATUS_PB[row["status"]],
        attempt_count=row["attempt_count"],
        next_attempt_time=timestamp(row["next_attempt_time"])
        if row["status"] == "pending"
        else None,
        last_status_code=row["last_status_code"] or 0,
        create_time=timestamp(row["create_time"]),
        url=row["url"] or row.get("endpoint_url") or "",
    )


def attempt_pb(row: dict[str, Any]) -> webhooks_pb2.WebhookAttempt:
    return webhooks_pb2.WebhookAttempt(
        id=str(row["id"]),
        start_time=timestamp(row["start_time"]),
        end_time=timestamp(row["end_time"]),
        status_code=row["status_code"] or 0,
        error=row["error"],
        response_snippet=row["response_snippet"],
        latency_ms=row["latency_ms"],
    )


def spec_of(endpoint: webhooks_pb2.WebhookEndpoint) -> EndpointSpec:
    return EndpointSpec(
        url=endpoint.url.strip(),
        description=endpoint.description,
        event_types=tuple(endpoint.event_types),
        entity_type_ids=tuple(endpoint.entity_type_ids),
        source_ids=tuple(endpoint.source_ids),
        enabled=endpoint.enabled,
    )


class WebhookServicer(webhooks_pb2_grpc.WebhookServiceServicer):
    def __init__(self, webhooks: Webhooks, authenticate: Authenticate) -> None:
        self.webhooks = webhooks
        self.auth = _HeaderAuth(authenticate)

    async def CreateWebhookEndpoint(
        self, request: webhooks_pb2.CreateWebhookEndpointRequest, context: Any
    ) -> webhooks_pb2.CreateWebhookEndpointResponse:
        (workspace,) = await self.auth.authorise(context, "parent", request.parent, "workspaces")
        spec = spec_of(request.webhook_endpoint)
        created, secret = await self.webhooks.create_endpoint(workspace, spec)
        return webhooks_pb2.CreateWebhookEndpointResponse(
            webhook_endpoint=endpoint_pb(created), secret=secret
        )

    async def GetWebhookEndpoint(
        self, request: webhooks_pb2.GetWebhookEndpointRequest, context: Any
    ) -> webhooks_pb2.GetWebhookEndpointResponse:
        workspace, endpoint = await self.auth.authorise(
            context, "name", request.name, "workspaces", "webhookEndpoints"
        )
        found = await self.webhooks.get_endpoint(workspace, endpoint)
        return webhooks_pb2.GetWebhookEndpointResponse(webhook_endpoint=endpoint_pb(found))

    async def ListWebhookEndpoints(
        self, request: webhooks_pb2.ListWebhookEndpointsRequest, context: Any
    ) -> webhooks_pb2.ListWebhookEndpointsResponse:
        (workspace,) = await self.auth.authorise(context, "parent", request.parent, "workspaces")
        found, token = await self.webhooks.list_endpoints(
            workspace, request.page_size, request.page_token
        )
        return webhooks_pb2.ListWebhookEndpointsResponse(
            webhook_endpoints=[endpoint_pb(r) for r in found], next_page_token=token
        )

    async def UpdateWebhookEndpoint(
        self, request: webhooks_pb2.UpdateWebhookEndpointRequest, context: Any
    ) -> webhooks_pb2.UpdateWebhookEndpointResponse:
        workspace, endpoint = await self.auth.authorise(
            context,
            "webhook_endpoint.name",
            request.webhook_endpoint.name,
            "workspaces",
            "webhookEndpoints",
        )
        paths = update_paths(
            request.update_mask,
            request.webhook_endpoint,
            updatable=UPDATABLE,
            ignored=("name", "disabled_reason", "create_time", "update_time"),
        )
        updated = await self.webhooks.update_endpoint(
            workspace, endpoint, spec_of(request.webhook_endpoint), paths
        )
        return webhooks_pb2.UpdateWebhookEndpointResponse(webhook_endpoint=endpoint_pb(updated))

    async def DeleteWebhookEndpoint(
        self, request: webhooks_pb2.DeleteWebhookEndpointRequest, context: Any
    ) -> webhooks_pb2.DeleteWebhookEndpointResponse:
        workspace, endpoint = await self.auth.authorise(
            context, "name", request.name, "workspaces", "webhookEndpoints"
        )
        await self.webhooks.delete_endpoint(workspace, endpoint)
        return webhooks_pb2.DeleteWebhookEndpointResponse()

    async def RotateWebhookEndpointSecret(
        self, request: webhooks_pb2.RotateWebhookEndpointSecretRequest, context: Any
    ) -> webhooks_pb2.RotateWebhookEndpointSecretResponse:
        workspace, endpoint = await self.auth.authorise(
            context, "name", request.name, "workspaces", "webhookEndpoints"
        )
        grace = (
            request.grace_period.ToTimedelta().total_seconds()
            if request.HasField("grace_period")
            else None
        )
        secret, until = await self.webhooks.rotate_secret(workspace, endpoint, grace)
        return webhooks_pb2.RotateWebhookEndpointSecretResponse(
            secret=secret, previous_secret_expire_time=timestamp(until)
        )

    async def ListWebhookDeliveries(
        self, request: webhooks_pb2.ListWebhookDeliveriesRequest, context: Any
    ) -> webhooks_pb2.ListWebhookDeliveriesResponse:
        workspace, endpoint = await self.auth.authorise(
            context, "parent", request.parent, "workspaces", "webhookEndpoints"
        )
        if request.status and request.status not in _STATUS_NAME:
            raise InvalidArgument(
                f"status {request.status} is not a delivery status",
                violations=[Violation("status", "unknown status", "INVALID_STATUS")],
            )
        found, token = await self.webhooks.list_deliveries(
            workspace,
            endpoint,
            _STATUS_NAME.get(request.status),
            request.page_size,
            request.page_token,
        )
        return webhooks_pb2.ListWebhookDeliveriesResponse(
            webhook_deliveries=[delivery_pb(workspace, r) for r in found], next_page_token=token
        )

    async def ListWebhookAttempts(
        self, request: webhooks_pb2.ListWebhookAttemptsRequest, context: Any
    ) -> webhooks_pb2.ListWebhookAttemptsResponse:
        workspace, endpoint, delivery = await self.auth.authorise(
            context, "parent", request.parent, "workspaces", "webhookEndpoints", "deliveries"
        )
        found = await self.webhooks.list_attempts(workspace, endpoint, delivery)
        return webhooks_pb2.ListWebhookAttemptsResponse(
            webhook_attempts=[attempt_pb(r) for r in found]
        )

    async def ReplayWebhookDelivery(
        self, request: webhooks_pb2.ReplayWebhookDeliveryRequest, context: Any
    ) -> webhooks_pb2.ReplayWebhookDeliveryResponse:
        workspace, endpoint, delivery = await self.auth.authorise(
            context, "name", request.name, "workspaces", "webhookEndpoints", "deliveries"
        )
        replayed = await self.webhooks.replay(workspace, endpoint, delivery)
        return webhooks_pb2.ReplayWebhookDeliveryResponse(
            webhook_delivery=delivery_pb(workspace, replayed)
        )

    async def RecoverWebhookDeliveries(
        self, request: webhooks_pb2.RecoverWebhookDeliveriesRequest, context: Any
    ) -> webhooks_pb2.RecoverWebhookDeliveriesResponse:
        workspace, endpoint = await self.auth.authorise(
            context, "parent", request.parent, "workspaces", "webhookEndpoints"
        )
        if not request.HasField("since"):
            raise InvalidArgument(
                "since is required",
                violations=[Violation("since", "since is required", "REQUIRED_FIELD_MISSING")],
            )
        count = await self.webhooks.recover(
            workspace, endpoint, request.since.ToDatetime(tzinfo=UTC)
        )
        return webhooks_pb2.RecoverWebhookDeliveriesResponse(recovered_count=count)
