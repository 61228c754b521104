"""The ingest endpoints pages: list and create, one endpoint with its activity, state, rotation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.protobuf import field_mask_pb2

from inlet.admin.v1 import admin_pb2
from inlet_common import exactjson
from inlet_gateway.console.endpoint_activity import ActivityFilter, activity_context
from inlet_gateway.console.forms import (
    FormError,
    optional_duration,
    optional_int,
)
from inlet_gateway.console.pages_workspace import PAGE_SIZE, entity_types, type_label
from inlet_gateway.console.upstream import ApiError
from inlet_gateway.console.web import Reply, Request, Route, redirect

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console


async def endpoint_list(
    console: Console,
    request: Request,
    *,
    status: int = 200,
    error: str = "",
    fields: list[tuple[str, str]] | None = None,
) -> Reply:
    session = request.signed_in
    page = await console.upstream.call(
        console.upstream.admin.ListIngestEndpoints,
        admin_pb2.ListIngestEndpointsRequest(
            parent=session.workspace,
            page_size=PAGE_SIZE,
            page_token=request.query.get("page_token", ""),
        ),
        session.token,
    )
    return console.page(
        request,
        "endpoints.html",
        status=status,
        current="endpoints",
        endpoints=page.ingest_endpoints,
        next_page_token=page.next_page_token,
        types=await entity_types(console, request),
        error=error,
        fields=fields or [],
        form=request.form,
    )


async def endpoint_create(console: Console, request: Request) -> Reply:
    session = request.signed_in
    form = request.form
    try:
        rate_limit = optional_int(form.get("rate_limit"), "Rate limit", minimum=1, maximum=10**6)
        rate_window = optional_int(
            form.get("rate_window_seconds"), "Rate window", minimum=1, maximum=86400
        )
    except FormError as bad:
        return await endpoint_list(console, request, status=400, error=str(bad))
    endpoint = admin_pb2.IngestEndpoint(
        display_name=form.get("display_name", "").strip(),
        entity_type=form.get("entity_type", ""),
        default_region=form.get("default_region", "").strip().upper(),
        rate_limit=rate_limit or 0,
        rate_window_seconds=rate_window or 0,
    )
    try:
        made = await console.upstream.call(
            console.upstream.admin.CreateIngestEndpoint,
            admin_pb2.CreateIngestEndpointRequest(
                parent=session.workspace, ingest_endpoint=endpoint
            ),
            session.token,
        )
    except ApiError as error:
        return await endpoint_list(
            console, request, status=400, error=error.message, fields=error.fields
        )
    return console.page(
        request,
        "secret_once.html",
        current="endpoints",
        title=f"Endpoint {made.ingest_endpoint.display_name or made.ingest_endpoint.id} created",
        what="URL",
        secret=f"{request.origin}{made.url_path}",
        explain=(
            "Push JSON to this URL. It is the credential: it is shown once and inlet keeps "
            "only its hash. Copy it now; if it is lost, regenerate it."
        ),
        next_href=f"/console/endpoints/{made.ingest_endpoint.id}",
        next_label="Open the endpoint",
    )


def _endpoint_name(request: Request) -> str:
    return f"{request.signed_in.workspace}/ingestEndpoints/{request.params['id']}"


async def _get_endpoint(console: Console, request: Request) -> Any:
    got = await console.upstream.call(
        console.upstream.admin.GetIngestEndpoint,
        admin_pb2.GetIngestEndpointRequest(name=_endpoint_name(request)),
        request.signed_in.token,
    )
    return got.ingest_endpoint


async def endpoint_detail(console: Console, request: Request) -> Reply:
    session = request.signed_in
    endpoint = await _get_endpoint(console, request)
    example = await console.upstream.call(
        console.upstream.admin.GetIngestEndpointExample,
        admin_pb2.GetIngestEndpointExampleRequest(name=endpoint.name),
        session.token,
    )
    activity = await activity_context(
        console, request, endpoint, ActivityFilter.read(request.query)
    )
    return console.page(
        request,
        "endpoint.html",
        current="endpoints",
        endpoint=endpoint,
        example=exactjson.from_raw(example.payload, {}),
        example_fields=example.fields,
        type_label=type_label,
        done=request.query.get("done", ""),
        **activity,
    )


async def endpoint_activity(console: Console, request: Request) -> Reply:
    """The activity log alone: what the live tail and the filters fetch."""
    endpoint = await _get_endpoint(console, request)
    activity = await activity_context(
        console, request, endpoint, ActivityFilter.read(request.query)
    )
    return console.page(request, "activity_list.html", endpoint=endpoint, **activity)


async def endpoint_state(console: Console, request: Request) -> Reply:
    enabled = request.form.get("enabled") == "true"
    await console.upstream.call(
        console.upstream.admin.UpdateIngestEndpoint,
        admin_pb2.UpdateIngestEndpointRequest(
            ingest_endpoint=admin_pb2.IngestEndpoint(name=_endpoint_name(request), enabled=enabled),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        ),
        request.signed_in.token,
    )
    done = "enabled" if enabled else "disabled"
    return redirect(f"/console/endpoints/{request.params['id']}?done={done}")


async def endpoint_rotate(console: Console, request: Request) -> Reply:
    try:
        grace = optional_duration(request.form.get("grace"), "Grace period")
    except FormError as bad:
        return await _refused(console, request, str(bad))
    rotate = admin_pb2.RotateIngestEndpointTokenRequest(name=_endpoint_name(request))
    if grace is not None:
        rotate.grace_period.CopyFrom(grace)
    made = await console.upstream.call(
        console.upstream.admin.RotateIngestEndpointToken, rotate, request.signed_in.token
    )
    if made.HasField("previous_token_expire_time"):
        stamp = made.previous_token_expire_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S UTC")
        old = f"The old URL keeps working until {stamp}; its uses are marked in the log."
    else:
        old = "The old URL stopped working."
    return console.page(
        request,
        "secret_once.html",
        current="endpoints",
        title="New URL",
        what="URL",
        secret=f"{request.origin}{made.url_path}",
        explain=f"Shown once: copy it now. {old}",
        next_href=f"/console/endpoints/{made.ingest_endpoint.id}",
        next_label="Back to the endpoint",
    )


async def _refused(console: Console, request: Request, message: str) -> Reply:
    return console.page(
        request,
        "error.html",
        status=400,
        title="Refused",
        message=message,
        fields=[],
    )


ROUTES = [
    Route("GET", "/console/endpoints", endpoint_list),
    Route("POST", "/console/endpoints", endpoint_create),
    Route("GET", "/console/endpoints/{id}", endpoint_detail),
    Route("GET", "/console/endpoints/{id}/activity", endpoint_activity),
    Route("POST", "/console/endpoints/{id}/state", endpoint_state),
    Route("POST", "/console/endpoints/{id}/rotate", endpoint_rotate),
]
