"""The overview, entity types and their fields, and ingest endpoints with their activity log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import admin_pb2
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson
from inlet_gateway.console.forms import (
    FormError,
    input_time,
    optional_duration,
    optional_int,
    optional_time,
)
from inlet_gateway.console.upstream import ApiError
from inlet_gateway.console.web import Reply, Request, Route, redirect

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console

PAGE_SIZE = 20
LOG_PAGE_SIZE = 25

DIALECTS = {
    "endpoint_push": ("Endpoint push", "/console/endpoints", "endpoints"),
    "stream_ingest": ("Stream ingest", "/console/streams", "streams"),
}
PLANNED_DIALECTS = ("Integration ingest", "Push transfer")

TYPE_LABELS: dict[int, str] = {
    entity_pb2.FIELD_TYPE_TEXT: "text",
    entity_pb2.FIELD_TYPE_EMAIL: "email",
    entity_pb2.FIELD_TYPE_PHONE: "phone",
    entity_pb2.FIELD_TYPE_NUMBER: "number",
    entity_pb2.FIELD_TYPE_BOOLEAN: "boolean",
    entity_pb2.FIELD_TYPE_DATETIME: "datetime",
    entity_pb2.FIELD_TYPE_REFERENCE: "reference",
    entity_pb2.FIELD_TYPE_INTEGER: "integer",
}

# How a value becomes its matching key (what "the same value" means for a unique field).
KEY_RULES = {
    "text": "trimmed, Unicode NFC; otherwise exact (case counts)",
    "email": "email-validator's normalised form, lower-cased",
    "phone": (
        "E.164 when it can be placed (default region, +country or 00 prefix), else without "
        "spaces, dashes, dots, brackets and slashes; an extension is part of the number"
    ),
    "number": "by value: 1000, 1000.0 and 1e3 are one key (stored as sent)",
    "integer": "by value, any size: 1000, 1000.0 and 1e3 are one key (stored as sent)",
    "boolean": "true or false",
    "datetime": "RFC 3339, as the instant in UTC (no offset: UTC)",
    "reference": "the id of a record of the referenced type",
}


def type_label(kind: int) -> str:
    return TYPE_LABELS.get(kind, "unspecified")


async def entity_types(console: Console, request: Request) -> list[Any]:
    """Every entity type of the workspace (for choosers), by slug."""
    session = request.signed_in
    found: list[Any] = []
    token = ""
    while True:
        page = await console.upstream.call(
            console.upstream.admin.ListEntityTypes,
            admin_pb2.ListEntityTypesRequest(
                parent=session.workspace, page_size=500, page_token=token
            ),
            session.token,
        )
        found.extend(page.entity_types)
        token = page.next_page_token
        if not token:
            return found


# --- overview ------------------------------------------------------------------------------


async def overview(console: Console, request: Request) -> Reply:
    session = request.signed_in
    summary = await console.upstream.call(
        console.upstream.admin.SummarizeActivity,
        admin_pb2.SummarizeActivityRequest(workspace=session.workspace),
        session.token,
    )
    cards = [
        {
            "label": DIALECTS[d.dialect][0],
            "href": DIALECTS[d.dialect][1],
            "sources": f"{d.source_count} {DIALECTS[d.dialect][2]}",
            "requests": d.request_count,
            "errors": d.error_count,
            "last": d.last_request_time,
        }
        for d in summary.dialects
        if d.dialect in DIALECTS
    ]
    return console.page(
        request,
        "overview.html",
        current="overview",
        cards=cards,
        since=summary.start_time,
        planned=PLANNED_DIALECTS,
    )


# --- entity types --------------------------------------------------------------------------


async def entity_type_list(console: Console, request: Request) -> Reply:
    session = request.signed_in
    page = await console.upstream.call(
        console.upstream.admin.ListEntityTypes,
        admin_pb2.ListEntityTypesRequest(
            parent=session.workspace,
            page_size=PAGE_SIZE,
            page_token=request.query.get("page_token", ""),
        ),
        session.token,
    )
    return console.page(
        request,
        "entity_types.html",
        current="entity-types",
        types=page.entity_types,
        next_page_token=page.next_page_token,
        type_label=type_label,
        key_rules=KEY_RULES,
    )


# --- endpoints -----------------------------------------------------------------------------


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


@dataclass
class ActivityFilter:
    status_code: int | None = None
    errors_only: bool = False
    since: Any = None
    until: Any = None
    error: str = ""
    page_token: str = ""

    @classmethod
    def read(cls, query: dict[str, str]) -> ActivityFilter:
        made = cls(errors_only=query.get("errors") == "on", page_token=query.get("page_token", ""))
        try:
            made.status_code = optional_int(query.get("status"), "Status", minimum=100, maximum=599)
            made.since = optional_time(query.get("since"), "Since")
            made.until = optional_time(query.get("until"), "Until")
        except FormError as bad:
            made.error = str(bad)
        return made

    def params(self) -> dict[str, Any]:
        """The filter as query parameters (without the page token)."""
        return {
            "status": self.status_code or "",
            "errors": "on" if self.errors_only else "",
            "since": input_time(self.since),
            "until": input_time(self.until),
        }


@dataclass
class EntityOutcome:
    entity: str
    action: str
    record_id: str
    entity_type: str
    matched_on: list[str] = field(default_factory=list)


@dataclass
class ActivityView:
    id: str
    request_id: str
    client_request_id: str
    status_code: int
    create_time: Any
    previous_token: bool
    outcome: Any
    entities: list[EntityOutcome]
    error: dict[str, Any] | None
    replay_of: str
    summary: str
    # The request's trace id, when tracing was on (only endpoint activity keeps one).
    trace_id: str = ""


def activity_view(entry: Any, entity_type: str, references: dict[str, str]) -> ActivityView:
    """One activity entry as the log shows it: what happened per entity, or the error."""
    outcome = exactjson.from_raw(entry.outcome, {})
    entities: list[EntityOutcome] = []
    if isinstance(outcome, dict) and isinstance(outcome.get("record"), dict):
        record = outcome["record"]
        entities.append(
            EntityOutcome(
                "record",
                str(record.get("action", "")),
                str(record.get("id", "")),
                entity_type,
                list(record.get("matched_on", [])),
            )
        )
        for slug, related in (outcome.get("related") or {}).items():
            entities.append(
                EntityOutcome(
                    f"related.{slug}",
                    str(related.get("action", "")),
                    str(related.get("id", "")),
                    references.get(slug, slug),
                    list(related.get("matched_on", [])),
                )
            )
    error = outcome.get("error") if isinstance(outcome, dict) else None
    replay_of = str(outcome.get("replay_of", "")) if isinstance(outcome, dict) else ""
    if entities:
        summary = "; ".join(f"{e.entity} {e.action} {e.record_id[:8]}" for e in entities)
    elif isinstance(error, dict):
        summary = str(error.get("code", "error"))
        problems = error.get("errors") or []
        if problems:
            first = problems[0]
            summary += f"; {first.get('field', '')}: {first.get('code', '')}"
            if len(problems) > 1:
                summary += f" (+{len(problems) - 1} more)"
    else:
        summary = ""
    if replay_of:
        summary = f"replay of {replay_of}; {summary}"
    return ActivityView(
        id=entry.id,
        request_id=entry.request_id,
        client_request_id=entry.client_request_id,
        trace_id=getattr(entry, "trace_id", ""),
        status_code=entry.status_code,
        create_time=entry.create_time,
        previous_token=entry.previous_token,
        outcome=outcome,
        entities=entities,
        error=error if isinstance(error, dict) else None,
        replay_of=replay_of,
        summary=summary,
    )


async def _activity(
    console: Console, request: Request, endpoint: Any, chosen: ActivityFilter
) -> dict[str, Any]:
    """The activity log's context: the entries of one page under the filter."""
    session = request.signed_in
    context: dict[str, Any] = {
        "filter": chosen,
        "entries": [],
        "next_page_token": "",
        "tail": not chosen.page_token and not chosen.error,
        "activity_url": f"/console/endpoints/{endpoint.id}/activity",
    }
    if chosen.error:
        return context
    listing = admin_pb2.ListActivityEntriesRequest(
        parent=endpoint.name,
        page_size=LOG_PAGE_SIZE,
        page_token=chosen.page_token,
        status_code=chosen.status_code or 0,
        errors_only=chosen.errors_only,
    )
    if chosen.since is not None:
        listing.start_time.CopyFrom(chosen.since)
    if chosen.until is not None:
        listing.end_time.CopyFrom(chosen.until)
    try:
        page = await console.upstream.call(
            console.upstream.admin.ListActivityEntries, listing, session.token
        )
    except ApiError as error:
        if error.code != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        chosen.error = error.message
        return context
    entity_type = await console.upstream.call(
        console.upstream.admin.GetEntityType,
        admin_pb2.GetEntityTypeRequest(
            name=f"{session.workspace}/entityTypes/{endpoint.entity_type}"
        ),
        session.token,
    )
    references = {
        f.slug: f.reference_entity_type
        for f in entity_type.entity_type.fields
        if f.reference_entity_type
    }
    context["entries"] = [
        activity_view(e, endpoint.entity_type, references) for e in page.activity_entries
    ]
    context["next_page_token"] = page.next_page_token
    return context


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
    activity = await _activity(console, request, endpoint, ActivityFilter.read(request.query))
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
    activity = await _activity(console, request, endpoint, ActivityFilter.read(request.query))
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
    Route("GET", "/console/", overview),
    Route("GET", "/console/entity-types", entity_type_list),
    Route("GET", "/console/endpoints", endpoint_list),
    Route("POST", "/console/endpoints", endpoint_create),
    Route("GET", "/console/endpoints/{id}", endpoint_detail),
    Route("GET", "/console/endpoints/{id}/activity", endpoint_activity),
    Route("POST", "/console/endpoints/{id}/state", endpoint_state),
    Route("POST", "/console/endpoints/{id}/rotate", endpoint_rotate),
]
