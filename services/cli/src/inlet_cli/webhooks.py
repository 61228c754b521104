"""`inlet webhooks …`: webhook endpoints, their deliveries and attempts, replay and recover."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer
from google.protobuf import field_mask_pb2

from inlet.notifier.v1 import webhooks_pb2, webhooks_pb2_grpc
from inlet_cli import render
from inlet_cli.client import (
    Client,
    Settings,
    duration,
    every_page,
    grpc_address,
    is_full_id,
    json_mode,
    opened,
    output_mode,
    resolve_id,
    timestamp,
    usage_error,
)
from inlet_cli.render import Column
from inlet_common.durations import format_duration

app = typer.Typer(
    help="Webhooks: signed deliveries of record.created, record.updated, ingest.failed …",
    no_args_is_help=True,
)

STATUSES = {
    "pending": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_PENDING,
    "succeeded": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_SUCCEEDED,
    "failed": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_FAILED,
}
STATUS_LABELS = {v: k for k, v in STATUSES.items()}


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


@app.callback()
def root(
    ctx: typer.Context,
    notifier_url: Annotated[
        str,
        typer.Option(envvar="INLET_NOTIFIER_URL", help="Webhook API (the notifier), host:port."),
    ] = "127.0.0.1:50053",
) -> None:
    ctx.meta["notifier_url"] = notifier_url


def api(ctx: typer.Context) -> contextlib.AbstractContextManager[Api]:
    address = grpc_address(ctx.meta["notifier_url"])
    return opened(ctx.obj, lambda settings: Api(settings, address))


def _show_endpoints(ctx: typer.Context, found: list[webhooks_pb2.WebhookEndpoint]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(e) for e in found])
        return
    render.table(
        None,
        [Column("id", id_=True), "url", "events", "enabled", "disabled because"],
        [
            [
                render.short(e.name),
                e.url,
                ", ".join(e.event_types) or "all",
                "yes" if e.enabled else "no",
                e.disabled_reason,
            ]
            for e in found
        ],
        mode=output_mode(ctx),
    )


Events = Annotated[list[str] | None, typer.Option("--event", help="Event type (repeatable).")]
EntityTypes = Annotated[
    list[str] | None, typer.Option("--entity-type", help="Entity type id (repeatable).")
]
Sources = Annotated[list[str] | None, typer.Option("--source", help="Ingest endpoint id.")]


@app.command("create")
def create(
    ctx: typer.Context,
    url: str,
    event: Events = None,
    entity_type: EntityTypes = None,
    source: Sources = None,
    description: str = "",
) -> None:
    """Subscribe URL; prints the signing secret once."""
    with api(ctx) as client:
        got = client.call(
            client.stub.CreateWebhookEndpoint,
            webhooks_pb2.CreateWebhookEndpointRequest(
                parent=client.workspace,
                webhook_endpoint=webhooks_pb2.WebhookEndpoint(
                    url=url,
                    description=description,
                    event_types=event or [],
                    entity_type_ids=entity_type or [],
                    source_ids=source or [],
                ),
            ),
        )
    if json_mode(ctx):
        render.emit_json(render.as_dict(got))
        return
    _show_endpoints(ctx, [got.webhook_endpoint])
    render.out.print(f"signing secret (shown once): {got.secret}", markup=False)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List webhook endpoints."""
    with api(ctx) as client:
        found = all_endpoints(client)
    _show_endpoints(ctx, found)


@app.command("show")
def show(ctx: typer.Context, endpoint_id: str) -> None:
    """Show one webhook endpoint."""
    with api(ctx) as client:
        got = client.call(
            client.stub.GetWebhookEndpoint,
            webhooks_pb2.GetWebhookEndpointRequest(name=client.endpoint(endpoint_id)),
        )
    _show_endpoints(ctx, [got.webhook_endpoint])


def _update(ctx: typer.Context, endpoint_id: str, paths: list[str], **values: Any) -> None:
    with api(ctx) as client:
        got = client.call(
            client.stub.UpdateWebhookEndpoint,
            webhooks_pb2.UpdateWebhookEndpointRequest(
                webhook_endpoint=webhooks_pb2.WebhookEndpoint(
                    name=client.endpoint(endpoint_id), **values
                ),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            ),
        )
    _show_endpoints(ctx, [got.webhook_endpoint])


@app.command("enable")
def enable(ctx: typer.Context, endpoint_id: str) -> None:
    """Enable an endpoint (clears an automatic disable)."""
    _update(ctx, endpoint_id, ["enabled"], enabled=True)


@app.command("disable")
def disable(ctx: typer.Context, endpoint_id: str) -> None:
    """Disable an endpoint: no deliveries until enabled."""
    _update(ctx, endpoint_id, ["enabled"], enabled=False)


@app.command("set-url")
def set_url(ctx: typer.Context, endpoint_id: str, url: str) -> None:
    """Point an endpoint at another URL (its filters and state stay)."""
    _update(ctx, endpoint_id, ["url"], url=url)


@app.command("update")
def update(
    ctx: typer.Context,
    endpoint_id: str,
    url: Annotated[str | None, typer.Option(help="New target URL.")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    event: Events = None,
    entity_type: EntityTypes = None,
    source: Sources = None,
    all_events: Annotated[
        bool, typer.Option("--all-events", help="Clear the event filter: every type.")
    ] = False,
    all_entity_types: Annotated[
        bool, typer.Option("--all-entity-types", help="Clear the entity type filter.")
    ] = False,
    all_sources: Annotated[
        bool, typer.Option("--all-sources", help="Clear the source filter.")
    ] = False,
) -> None:
    """Change the given settings of an endpoint; what is not given stays (a filter
    option replaces that filter's list)."""
    values: dict[str, Any] = {}
    if url is not None:
        values["url"] = url
    if description is not None:
        values["description"] = description
    for field, given, clear, flag in (
        ("event_types", event, all_events, "event"),
        ("entity_type_ids", entity_type, all_entity_types, "entity-type"),
        ("source_ids", source, all_sources, "source"),
    ):
        if given and clear:
            raise usage_error(f"--{flag} and --all-{flag}s contradict each other; pass one")
        if given or clear:
            values[field] = given or []
    if not values:
        raise usage_error(
            "nothing to change: pass --url, --description, --event, --entity-type, --source"
            " or an --all-… option"
        )
    _update(ctx, endpoint_id, list(values), **values)


@app.command("delete")
def delete(ctx: typer.Context, endpoint_id: str) -> None:
    """Delete an endpoint and its deliveries."""
    with api(ctx) as client:
        client.call(
            client.stub.DeleteWebhookEndpoint,
            webhooks_pb2.DeleteWebhookEndpointRequest(name=client.endpoint(endpoint_id)),
        )
    if not json_mode(ctx):
        render.out.print(f"deleted {endpoint_id}", markup=False)


@app.command("rotate-secret")
def rotate_secret(
    ctx: typer.Context,
    endpoint_id: str,
    grace: Annotated[
        str, typer.Option(help="How long the old secret still signs, e.g. 1h or 1d.")
    ] = "1d",
) -> None:
    """Issue a new signing secret; the old one signs alongside it for --grace."""
    period = duration("--grace", grace)
    with api(ctx) as client:
        got = client.call(
            client.stub.RotateWebhookEndpointSecret,
            webhooks_pb2.RotateWebhookEndpointSecretRequest(
                name=client.endpoint(endpoint_id), grace_period=period
            ),
        )
    if json_mode(ctx):
        render.emit_json(render.as_dict(got))
        return
    render.out.print(f"new signing secret (shown once): {got.secret}", markup=False)


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    endpoint_id: str,
    status: Annotated[str, typer.Option(help="pending, succeeded or failed.")] = "",
    limit: int = 50,
) -> None:
    """List an endpoint's deliveries, newest first."""
    if status and status not in STATUSES:
        raise usage_error(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    with api(ctx) as client:
        got = client.call(
            client.stub.ListWebhookDeliveries,
            webhooks_pb2.ListWebhookDeliveriesRequest(
                parent=client.endpoint(endpoint_id),
                status=STATUSES.get(status, webhooks_pb2.WEBHOOK_DELIVERY_STATUS_UNSPECIFIED),
                page_size=limit,
            ),
        )
    if json_mode(ctx):
        render.emit_json([render.as_dict(d) for d in got.webhook_deliveries])
        return
    render.table(
        None,
        [Column("id", id_=True), Column("event", id_=True), "type", "status", "attempts", "HTTP"],
        [
            [
                render.short(d.name),
                d.event_id,
                d.event_type,
                STATUS_LABELS.get(d.status, "?"),
                d.attempt_count,
                d.last_status_code or "",
            ]
            for d in got.webhook_deliveries
        ],
        mode=output_mode(ctx),
    )


@app.command("attempts")
def attempts(ctx: typer.Context, endpoint_id: str, delivery_id: str) -> None:
    """List a delivery's attempts."""
    with api(ctx) as client:
        got = client.call(
            client.stub.ListWebhookAttempts,
            webhooks_pb2.ListWebhookAttemptsRequest(
                parent=client.delivery(endpoint_id, delivery_id)
            ),
        )
    if json_mode(ctx):
        render.emit_json([render.as_dict(a) for a in got.webhook_attempts])
        return
    render.table(
        None,
        ["started", "HTTP", "took", "error", "response"],
        [
            [
                a.start_time.ToDatetime().isoformat(timespec="seconds"),
                a.status_code or "",
                format_duration(a.latency_ms / 1000),
                a.error,
                a.response_snippet[:60],
            ]
            for a in got.webhook_attempts
        ],
        mode=output_mode(ctx),
    )


@app.command("replay")
def replay(ctx: typer.Context, endpoint_id: str, delivery_id: str) -> None:
    """Send a delivery again now (same webhook-id)."""
    with api(ctx) as client:
        got = client.call(
            client.stub.ReplayWebhookDelivery,
            webhooks_pb2.ReplayWebhookDeliveryRequest(
                name=client.delivery(endpoint_id, delivery_id)
            ),
        )
    if json_mode(ctx):
        render.emit_json(render.as_dict(got))
        return
    render.out.print(f"replaying {delivery_id}", markup=False)


@app.command("recover")
def recover(
    ctx: typer.Context,
    endpoint_id: str,
    since: Annotated[str, typer.Option(help="ISO 8601 time, or a duration ago (e.g. 6h).")],
) -> None:
    """Send again every failed delivery of an endpoint created since a time."""
    when = timestamp("--since", since)
    with api(ctx) as client:
        got = client.call(
            client.stub.RecoverWebhookDeliveries,
            webhooks_pb2.RecoverWebhookDeliveriesRequest(
                parent=client.endpoint(endpoint_id), since=when
            ),
        )
    if json_mode(ctx):
        render.emit_json(render.as_dict(got))
        return
    render.out.print(f"recovering {got.recovered_count} deliveries", markup=False)
