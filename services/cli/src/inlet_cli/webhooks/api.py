"""WebhookService (the notifier) with the admin token: resource names and short-id look-ups."""

from __future__ import annotations

import contextlib

import typer

from inlet.notifier.v1 import webhooks_pb2, webhooks_pb2_grpc
from inlet_cli import render
from inlet_cli.client import (
    Client,
    Settings,
    every_page,
    grpc_address,
    is_full_id,
    opened,
    resolve_id,
)


class Api(Client[webhooks_pb2_grpc.WebhookServiceStub]):
    """WebhookService (served by the notifier) with the admin token."""

    service = "webhook API"
    setting = "set INLET_NOTIFIER_URL or --notifier-url"

    def __init__(self, settings: Settings, address: str) -> None:
        super().__init__(settings, webhooks_pb2_grpc.WebhookServiceStub, address)

    def endpoint(self, endpoint_id: str) -> str:
        """The endpoint's resource name from its id or the start of it."""
        if not is_full_id(endpoint_id):
            endpoint_id = resolve_id(
                endpoint_id,
                (render.short(e.name) for e in all_endpoints(self)),
                "webhook endpoint",
                "NOT_FOUND",
            )
        return f"{self.workspace}/webhookEndpoints/{endpoint_id}"

    def delivery(self, endpoint_id: str, delivery_id: str) -> str:
        """A delivery's resource name from the ids (or their starts) of both."""
        endpoint = self.endpoint(endpoint_id)
        if not is_full_id(delivery_id):
            delivery_id = resolve_id(
                delivery_id,
                (render.short(d.name) for d in recent_deliveries(self, endpoint)),
                "delivery",
                "NOT_FOUND",
            )
        return f"{endpoint}/deliveries/{delivery_id}"


def all_endpoints(client: Api) -> list[webhooks_pb2.WebhookEndpoint]:
    return client.every(
        client.stub.ListWebhookEndpoints,
        webhooks_pb2.ListWebhookEndpointsRequest(parent=client.workspace),
        "webhook_endpoints",
    )


# A short delivery id is looked up among this many of the newest deliveries.
_SHORT_ID_SCAN = 5000


def recent_deliveries(client: Api, endpoint: str) -> list[webhooks_pb2.WebhookDelivery]:
    found: list[webhooks_pb2.WebhookDelivery] = []
    for page in every_page(
        lambda token: client.call(
            client.stub.ListWebhookDeliveries,
            webhooks_pb2.ListWebhookDeliveriesRequest(
                parent=endpoint, page_size=500, page_token=token
            ),
        )
    ):
        found.extend(page.webhook_deliveries)
        if len(found) >= _SHORT_ID_SCAN:
            break
    return found


def api(ctx: typer.Context) -> contextlib.AbstractContextManager[Api]:
    address = grpc_address(ctx.meta["notifier_url"])
    return opened(ctx.obj, lambda settings: Api(settings, address))
