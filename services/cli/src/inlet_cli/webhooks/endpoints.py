"""`inlet webhooks create|list|show|update|…`: webhook endpoints and their signing secrets."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from google.protobuf import field_mask_pb2

from inlet.notifier.v1 import webhooks_pb2
from inlet_cli import render
from inlet_cli.client import duration, json_mode, output_mode, usage_error
from inlet_cli.render import Column
from inlet_cli.webhooks.api import all_endpoints, api

app = typer.Typer()


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
