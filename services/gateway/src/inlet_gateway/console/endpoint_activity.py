"""An ingest endpoint's activity log as the console shows it: the filter, each entry, one page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

from inlet.admin.v1 import admin_pb2
from inlet_common import exactjson
from inlet_gateway.console.forms import (
    FormError,
    input_time,
    optional_int,
    optional_time,
)
from inlet_gateway.console.upstream import ApiError
from inlet_gateway.console.web import Request

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console


LOG_PAGE_SIZE = 25


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


async def activity_context(
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
