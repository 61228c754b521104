"""Records: browse a type's records, find one by a unique value, see the requests that wrote it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from inlet.admin.v1 import admin_pb2
from inlet_common import exactjson
from inlet_gateway.console.pages_workspace import PAGE_SIZE, entity_types, type_label
from inlet_gateway.console.upstream import ApiError
from inlet_gateway.console.web import Reply, Request, Route, redirect

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console

DIALECT_LABELS = {"endpoint_push": "endpoint push", "stream_ingest": "stream ingest"}


async def record_list(console: Console, request: Request) -> Reply:
    session = request.signed_in
    types = await entity_types(console, request)
    chosen = request.query.get("type") or (types[0].slug if types else "")
    current_type = next((t for t in types if t.slug == chosen), None)
    records: list[tuple[Any, Any]] = []
    next_page_token = ""
    find_error = ""
    if current_type is not None:
        if request.query.get("value", "").strip():
            found, find_error = await _find(console, request, chosen)
            if found is not None:
                return redirect(f"/console/records/{chosen}/{found.id}")
        page = await console.upstream.call(
            console.upstream.admin.ListRecords,
            admin_pb2.ListRecordsRequest(
                parent=f"{session.workspace}/entityTypes/{chosen}",
                page_size=PAGE_SIZE,
                page_token=request.query.get("page_token", ""),
            ),
            session.token,
        )
        records = [(r, exactjson.from_raw(r.values, {})) for r in page.records]
        next_page_token = page.next_page_token
    return console.page(
        request,
        "records.html",
        status=404 if find_error.startswith("No ") else 200,
        current="records",
        types=types,
        chosen=current_type,
        records=records,
        next_page_token=next_page_token,
        find_error=find_error,
        unique_fields=[f for f in current_type.fields if f.unique] if current_type else [],
    )


async def _find(console: Console, request: Request, type_slug: str) -> tuple[Any, str]:
    """The record whose unique field has the value (normalised as ingest does), or why not."""
    session = request.signed_in
    field = request.query.get("field", "")
    value = request.query.get("value", "")
    try:
        got = await console.upstream.call(
            console.upstream.admin.LookupRecord,
            admin_pb2.LookupRecordRequest(
                parent=f"{session.workspace}/entityTypes/{type_slug}",
                field=field,
                value=value,
                default_region=request.query.get("region", "").strip().upper(),
            ),
            session.token,
        )
    except ApiError as error:
        if error.code == grpc.StatusCode.NOT_FOUND:
            return None, f"No record found: {error.message}"
        if error.code == grpc.StatusCode.INVALID_ARGUMENT:
            return None, error.message
        raise
    return got.record, ""


async def record_detail(console: Console, request: Request) -> Reply:
    session = request.signed_in
    type_slug, record_id = request.params["type"], request.params["id"]
    name = f"{session.workspace}/entityTypes/{type_slug}/records/{record_id}"
    got = await console.upstream.call(
        console.upstream.admin.GetRecord, admin_pb2.GetRecordRequest(name=name), session.token
    )
    entity_type = await console.upstream.call(
        console.upstream.admin.GetEntityType,
        admin_pb2.GetEntityTypeRequest(name=f"{session.workspace}/entityTypes/{type_slug}"),
        session.token,
    )
    touched = await console.upstream.call(
        console.upstream.admin.ListRecordRequests,
        admin_pb2.ListRecordRequestsRequest(
            parent=name, page_size=PAGE_SIZE, page_token=request.query.get("page_token", "")
        ),
        session.token,
    )
    values = exactjson.from_raw(got.record.values, {})
    known = {f.slug for f in entity_type.entity_type.fields}
    return console.page(
        request,
        "record.html",
        current="records",
        record=got.record,
        entity_type=entity_type.entity_type,
        values=values,
        extra={k: v for k, v in values.items() if k not in known},
        type_label=type_label,
        requests=[(r, _source_href(r)) for r in touched.record_requests],
        next_page_token=touched.next_page_token,
        dialect_labels=DIALECT_LABELS,
    )


def _source_href(touched: Any) -> str:
    """The console page of the endpoint or stream a request came through, at its entry."""
    source_id = touched.source.rsplit("/", 1)[-1]
    if touched.dialect == "endpoint_push":
        return f"/console/endpoints/{source_id}"
    return f"/console/streams/{source_id}"


ROUTES = [
    Route("GET", "/console/records", record_list),
    Route("GET", "/console/records/{type}/{id}", record_detail),
]
