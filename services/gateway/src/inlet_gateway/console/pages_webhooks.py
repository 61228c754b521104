"""Webhooks: endpoints, their deliveries and attempts, replay, recovery and secret rotation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf import field_mask_pb2

from inlet.notifier.v1 import webhooks_pb2
from inlet_gateway.console.forms import FormError, optional_duration, optional_time
from inlet_gateway.console.pages_workspace import PAGE_SIZE
from inlet_gateway.console.upstream import ApiError
from inlet_gateway.console.web import PageError, Reply, Request, Route, redirect

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console

# The notifier's event types (WebhookService refuses any other).
EVENT_TYPES = ("record.created", "record.updated", "ingest.failed", "request.completed")
STATUSES = {
    "pending": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_PENDING,
    "succeeded": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_SUCCEEDED,
    "failed": webhooks_pb2.WEBHOOK_DELIVERY_STATUS_FAILED,
}
STATUS_LABELS = {value: name for name, value in STATUSES.items()}


def _endpoint_name(request: Request) -> str:
    return f"{request.signed_in.workspace}/webhookEndpoints/{request.params['id']}"


def _delivery_name(request: Request) -> str:
    return f"{_endpoint_name(request)}/deliveries/{request.params['delivery']}"


def _back(request: Request, done: str) -> Reply:
    return redirect(f"/console/webhooks/{request.params['id']}?done={done}")


async def webhook_list(
    console: Console,
    request: Request,
    *,
    status: int = 200,
    error: str = "",
    fields: list[tuple[str, str]] | None = None,
) -> Reply:
    session = request.signed_in
    page = await console.upstream.call(
        console.upstream.webhooks.ListWebhookEndpoints,
        webhooks_pb2.ListWebhookEndpointsRequest(
            parent=session.workspace,
            page_size=PAGE_SIZE,
            page_token=request.query.get("page_token", ""),
        ),
        session.token,
    )
    return console.page(
        request,
        "webhooks.html",
        status=status,
        current="webhooks",
        endpoints=page.webhook_endpoints,
        next_page_token=page.next_page_token,
        event_types=EVENT_TYPES,
        error=error,
        fields=fields or [],
        form=request.form,
    )


async def webhook_create(console: Console, request: Request) -> Reply:
    session = request.signed_in
    form = request.form
    events = [t for t in EVENT_TYPES if form.get(f"event.{t}") == "on"]
    try:
        made = await console.upstream.call(
            console.upstream.webhooks.CreateWebhookEndpoint,
            webhooks_pb2.CreateWebhookEndpointRequest(
                parent=session.workspace,
                webhook_endpoint=webhooks_pb2.WebhookEndpoint(
                    url=form.get("url", "").strip(),
                    description=form.get("description", "").strip(),
                    event_types=events,
                ),
            ),
            session.token,
        )
    except ApiError as error:
        return await webhook_list(
            console, request, status=400, error=error.message, fields=error.fields
        )
    endpoint_id = made.webhook_endpoint.name.rsplit("/", 1)[-1]
    return console.page(
        request,
        "secret_once.html",
        current="webhooks",
        title=f"Webhook endpoint for {made.webhook_endpoint.url} created",
        what="signing secret",
        secret=made.secret,
        explain=(
            "Verify each delivery's webhook-signature with this secret (Standard Webhooks). "
            "It is shown once: copy it now, or rotate it later."
        ),
        next_href=f"/console/webhooks/{endpoint_id}",
        next_label="Open the webhook endpoint",
    )


async def webhook_detail(console: Console, request: Request) -> Reply:
    session = request.signed_in
    got = await console.upstream.call(
        console.upstream.webhooks.GetWebhookEndpoint,
        webhooks_pb2.GetWebhookEndpointRequest(name=_endpoint_name(request)),
        session.token,
    )
    status_filter = request.query.get("status", "")
    deliveries = await console.upstream.call(
        console.upstream.webhooks.ListWebhookDeliveries,
        webhooks_pb2.ListWebhookDeliveriesRequest(
            parent=got.webhook_endpoint.name,
            status=STATUSES.get(status_filter, webhooks_pb2.WEBHOOK_DELIVERY_STATUS_UNSPECIFIED),
            page_size=PAGE_SIZE,
            page_token=request.query.get("page_token", ""),
        ),
        session.token,
    )
    return console.page(
        request,
        "webhook.html",
        current="webhooks",
        endpoint=got.webhook_endpoint,
        endpoint_id=request.params["id"],
        deliveries=deliveries.webhook_deliveries,
        next_page_token=deliveries.next_page_token,
        status_filter=status_filter if status_filter in STATUSES else "",
        statuses=list(STATUSES),
        status_labels=STATUS_LABELS,
        done=request.query.get("done", ""),
        count=request.query.get("count", ""),
    )


async def attempts(console: Console, request: Request) -> Reply:
    listed = await console.upstream.call(
        console.upstream.webhooks.ListWebhookAttempts,
        webhooks_pb2.ListWebhookAttemptsRequest(parent=_delivery_name(request)),
        request.signed_in.token,
    )
    return console.page(request, "attempts.html", attempts=listed.webhook_attempts)


async def webhook_state(console: Console, request: Request) -> Reply:
    enabled = request.form.get("enabled") == "true"
    await console.upstream.call(
        console.upstream.webhooks.UpdateWebhookEndpoint,
        webhooks_pb2.UpdateWebhookEndpointRequest(
            webhook_endpoint=webhooks_pb2.WebhookEndpoint(
                name=_endpoint_name(request), enabled=enabled
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        ),
        request.signed_in.token,
    )
    return _back(request, "enabled" if enabled else "disabled")


async def rotate_secret(console: Console, request: Request) -> Reply:
    try:
        grace = optional_duration(request.form.get("grace"), "Grace period")
    except FormError as bad:
        raise PageError(400, "Refused", str(bad)) from None
    rotate = webhooks_pb2.RotateWebhookEndpointSecretRequest(name=_endpoint_name(request))
    # The form always says the grace (its default is the API's day): empty means none.
    if grace is not None:
        rotate.grace_period.CopyFrom(grace)
    else:
        rotate.grace_period.SetInParent()
    made = await console.upstream.call(
        console.upstream.webhooks.RotateWebhookEndpointSecret, rotate, request.signed_in.token
    )
    if made.HasField("previous_secret_expire_time"):
        stamp = made.previous_secret_expire_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S UTC")
        old = f"The old secret also signs until {stamp}."
    else:
        old = "The old secret no longer signs."
    return console.page(
        request,
        "secret_once.html",
        current="webhooks",
        title="New signing secret",
        what="signing secret",
        secret=made.secret,
        explain=f"Shown once: copy it now. {old}",
        next_href=f"/console/webhooks/{request.params['id']}",
        next_label="Back to the webhook endpoint",
    )


async def recover(console: Console, request: Request) -> Reply:
    try:
        since = optional_time(request.form.get("since"), "Since")
    except FormError as bad:
        raise PageError(400, "Refused", str(bad)) from None
    if since is None:
        raise PageError(400, "Refused", "Since: give the time to recover failed deliveries from.")
    made = await console.upstream.call(
        console.upstream.webhooks.RecoverWebhookDeliveries,
        webhooks_pb2.RecoverWebhookDeliveriesRequest(parent=_endpoint_name(request), since=since),
        request.signed_in.token,
    )
    return redirect(
        f"/console/webhooks/{request.params['id']}?done=recovered&count={made.recovered_count}"
    )


async def replay(console: Console, request: Request) -> Reply:
    await console.upstream.call(
        console.upstream.webhooks.ReplayWebhookDelivery,
        webhooks_pb2.ReplayWebhookDeliveryRequest(name=_delivery_name(request)),
        request.signed_in.token,
    )
    return _back(request, "replayed")


ROUTES = [
    Route("GET", "/console/webhooks", webhook_list),
    Route("POST", "/console/webhooks", webhook_create),
    Route("GET", "/console/webhooks/{id}", webhook_detail),
    Route("GET", "/console/webhooks/{id}/deliveries/{delivery}/attempts", attempts),
    Route("POST", "/console/webhooks/{id}/state", webhook_state),
    Route("POST", "/console/webhooks/{id}/rotate-secret", rotate_secret),
    Route("POST", "/console/webhooks/{id}/recover", recover),
    Route("POST", "/console/webhooks/{id}/deliveries/{delivery}/replay", replay),
]
