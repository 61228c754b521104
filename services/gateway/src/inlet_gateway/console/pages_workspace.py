"""The overview and entity types pages, and what other pages share: page size, entity types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inlet.admin.v1 import admin_pb2
from inlet.type.v1 import entity_pb2
from inlet_gateway.console.web import Reply, Request, Route

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console


PAGE_SIZE = 20


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


ROUTES = [
    Route("GET", "/console/", overview),
    Route("GET", "/console/entity-types", entity_type_list),
]
