"""`inlet webhooks deliveries|attempts|replay|recover`: what was sent, and sending it again."""

from __future__ import annotations

from typing import Annotated

import typer

from inlet.notifier.v1 import webhooks_pb2
from inlet_cli import render
from inlet_cli.client import json_mode, output_mode, timestamp, usage_error
from inlet_cli.render import Column
from inlet_cli.webhooks.api import api
from inlet_common.durations import format_duration

app = typer.Typer()

STATUSES = {
    "pending": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_PENDING,
    "succeeded": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_SUCCEEDED,
    "failed": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_FAILED,
}
STATUS_LABELS = {v: k for k, v in STATUSES.items()}


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
