"""The `inlet` commands: entity types, fields, endpoints, records and imports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from google.protobuf import duration_pb2, field_mask_pb2
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from inlet.admin.v1 import admin_pb2
from inlet.type.v1 import entity_pb2
from inlet_cli import importer, integrations, push, render, streams, webhooks
from inlet_cli.client import (
    EXIT_FAILED,
    Admin,
    duration,
    every_page,
    is_full_id,
    json_mode,
    name_and_rate_changes,
    opened,
    output_mode,
    rate_limit_option,
    resolve_id,
    timestamp,
    usage_error,
    whole_seconds,
)
from inlet_cli.render import Column
from inlet_common.durations import format_duration

app = typer.Typer(
    name="inlet",
    help=(
        "Set up and inspect inlet: entity types, fields, endpoints, records, imports, "
        "streams, integrations and their tokens, webhooks. "
        "Each option can come from the INLET_* variable shown beside it; -o, --wide and "
        "--json may also follow the command."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
entity_types = typer.Typer(help="Entity types: the shapes records take.", no_args_is_help=True)
fields = typer.Typer(help="Fields of an entity type and their flags.", no_args_is_help=True)
endpoints = typer.Typer(help="Ingest endpoints: secret URLs bound to a type.", no_args_is_help=True)
records = typer.Typer(help="Stored records.", no_args_is_help=True)
app.add_typer(entity_types, name="entity-types")
app.add_typer(fields, name="fields")
app.add_typer(endpoints, name="endpoints")
app.add_typer(records, name="records")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(streams.app, name="streams")
app.add_typer(push.api_keys, name="api-keys")
app.add_typer(push.sessions, name="sessions")
app.add_typer(integrations.integrations, name="integrations")
app.add_typer(integrations.project_tokens, name="project-tokens")
app.add_typer(integrations.client_tokens, name="client-tokens")

TYPE_NAMES = {
    "text": entity_pb2.FIELD_TYPE_TEXT,
    "email": entity_pb2.FIELD_TYPE_EMAIL,
    "phone": entity_pb2.FIELD_TYPE_PHONE,
    "number": entity_pb2.FIELD_TYPE_NUMBER,
    "integer": entity_pb2.FIELD_TYPE_INTEGER,
    "boolean": entity_pb2.FIELD_TYPE_BOOLEAN,
    "datetime": entity_pb2.FIELD_TYPE_DATETIME,
    "reference": entity_pb2.FIELD_TYPE_REFERENCE,
}
TYPE_LABELS = {value: name for name, value in TYPE_NAMES.items()}


@dataclass
class Options:
    admin_url: str | None
    admin_token: str | None
    workspace: str | None
    ingest_url: str
    output: str  # render.TABLE, WIDE or JSON


@app.callback()
def root(
    ctx: typer.Context,
    admin_url: Annotated[
        str, typer.Option(envvar="INLET_ADMIN_URL", help="Admin API (the store), host:port.")
    ] = "127.0.0.1:50052",
    admin_token: Annotated[
        str | None,
        typer.Option(envvar="INLET_ADMIN_TOKEN", help="The workspace's admin token (adm_…)."),
    ] = None,
    workspace: Annotated[
        str | None, typer.Option(envvar="INLET_WORKSPACE", help="Workspace slug or id.")
    ] = None,
    ingest_url: Annotated[
        str,
        typer.Option(
            envvar="INLET_INGEST_URL", help="Base URL of the HTTP edge, for printed URLs."
        ),
    ] = "http://127.0.0.1:8080",
    output: Annotated[
        render.Output,
        typer.Option(
            "--output",
            "-o",
            help="table (short ids, fits 80 columns), wide (full ids) or json.",
        ),
    ] = render.Output.TABLE,
    wide: Annotated[bool, typer.Option("--wide", help="Same as -o wide.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Same as -o json.")] = False,
) -> None:
    ctx.obj = Options(
        admin_url,
        admin_token,
        workspace,
        ingest_url,
        render.JSON if json_output else render.WIDE if wide else output.value,
    )


def admin_api(ctx: typer.Context) -> contextlib.AbstractContextManager[Admin]:
    """The admin client, with every CliError printed in one line and its exit code."""
    return opened(ctx.obj, Admin)


# -- entity types ---------------------------------------------------------------------------


def _parse_field(spec: str) -> entity_pb2.Field:
    """slug:type[:unique][:required][:ref=<type>] → a Field."""
    slug, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else ["text"]
    kind = parts[0] or "text"
    if kind not in TYPE_NAMES:
        raise usage_error(f"--field {spec!r}: type must be one of {', '.join(TYPE_NAMES)}")
    f = entity_pb2.Field(slug=slug, display_name=slug, type=TYPE_NAMES[kind])
    for flag in parts[1:]:
        if flag == "unique":
            f.unique = True
        elif flag == "required":
            f.required = True
        elif flag.startswith("ref="):
            f.reference_entity_type = flag[4:]
        else:
            raise usage_error(f"--field {spec!r}: unknown flag {flag!r} (unique, required, ref=)")
    return f


def _show_type(ctx: typer.Context, t: entity_pb2.EntityType) -> None:
    if json_mode(ctx):
        render.emit_json(render.as_dict(t))
        return
    mode = output_mode(ctx)
    named = t.name if mode == render.WIDE else f"id {render.short_id(t.id)}"
    render.table(
        f"{t.slug} ({t.display_name}) — {named}",
        ["field", "type", "unique", "required", "references"],
        [
            [
                f.slug,
                TYPE_LABELS.get(f.type, "?"),
                "yes" if f.unique else "",
                "yes" if f.required else "",
                f.reference_entity_type,
            ]
            for f in t.fields
        ],
        mode=mode,
    )


@entity_types.command("list")
def entity_types_list(ctx: typer.Context) -> None:
    """List entity types."""
    with admin_api(ctx) as api:
        found = api.every(
            api.stub.ListEntityTypes,
            admin_pb2.ListEntityTypesRequest(parent=api.workspace),
            "entity_types",
        )
    if json_mode(ctx):
        render.emit_json([render.as_dict(t) for t in found])
        return
    render.table(
        None,
        ["slug", "name", "fields", "unique"],
        [
            [
                t.slug,
                t.display_name,
                len(t.fields),
                ", ".join(f.slug for f in t.fields if f.unique),
            ]
            for t in found
        ],
        mode=output_mode(ctx),
    )


@entity_types.command("show")
def entity_types_show(ctx: typer.Context, slug: str) -> None:
    """Show an entity type and its fields."""
    with admin_api(ctx) as api:
        got = api.call(
            api.stub.GetEntityType,
            admin_pb2.GetEntityTypeRequest(name=f"{api.workspace}/entityTypes/{slug}"),
        )
    _show_type(ctx, got.entity_type)


@entity_types.command("create")
def entity_types_create(
    ctx: typer.Context,
    slug: str,
    field: Annotated[
        list[str],
        typer.Option(
            "--field",
            "-f",
            help="slug:type[:unique][:required][:ref=<type>], e.g. email:email:unique",
        ),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create an entity type with its fields."""
    specs = [_parse_field(spec) for spec in field]
    with admin_api(ctx) as api:
        made = api.call(
            api.stub.CreateEntityType,
            admin_pb2.CreateEntityTypeRequest(
                parent=api.workspace,
                entity_type=entity_pb2.EntityType(slug=slug, display_name=name, fields=specs),
            ),
        )
    _show_type(ctx, made.entity_type)


@entity_types.command("delete")
def entity_types_delete(ctx: typer.Context, slug: str) -> None:
    """Delete an entity type that has no records and no endpoints."""
    with admin_api(ctx) as api:
        api.call(
            api.stub.DeleteEntityType,
            admin_pb2.DeleteEntityTypeRequest(name=f"{api.workspace}/entityTypes/{slug}"),
        )
    if json_mode(ctx):
        render.emit_json({"deleted": slug})
    else:
        render.out.print(f"deleted entity type {slug}")


# -- fields ---------------------------------------------------------------------------------


@fields.command("add")
def fields_add(
    ctx: typer.Context,
    entity_type: str,
    slug: str,
    type_: Annotated[str, typer.Option("--type", help=", ".join(TYPE_NAMES))] = "text",
    unique: Annotated[bool, typer.Option(help="Match records on this field.")] = False,
    reference: Annotated[str, typer.Option(help="Referenced type (type reference).")] = "",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Add a field to an entity type."""
    if type_ not in TYPE_NAMES:
        raise usage_error(f"--type must be one of {', '.join(TYPE_NAMES)}, got {type_!r}")
    with admin_api(ctx) as api:
        changed = api.call(
            api.stub.CreateField,
            admin_pb2.CreateFieldRequest(
                parent=f"{api.workspace}/entityTypes/{entity_type}",
                field=entity_pb2.Field(
                    slug=slug,
                    display_name=name or slug,
                    type=TYPE_NAMES[type_],
                    unique=unique,
                    reference_entity_type=reference,
                ),
            ),
        )
    _show_type(ctx, changed.entity_type)


@fields.command("set")
def fields_set(
    ctx: typer.Context,
    entity_type: str,
    slug: str,
    unique: Annotated[bool | None, typer.Option("--unique/--no-unique")] = None,
    required: Annotated[bool | None, typer.Option("--required/--no-required")] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Change a field's flags. Turning unique on refuses while values are duplicated."""
    mask = [
        path
        for path, value in (("unique", unique), ("required", required), ("display_name", name))
        if value is not None
    ]
    if not mask:
        raise usage_error("nothing to change: pass --unique/--no-unique, --required, or --name")
    with admin_api(ctx) as api:
        changed = api.call(
            api.stub.UpdateField,
            admin_pb2.UpdateFieldRequest(
                field=admin_pb2.FieldResource(
                    name=f"{api.workspace}/entityTypes/{entity_type}/fields/{slug}",
                    field=entity_pb2.Field(
                        display_name=name or "", unique=bool(unique), required=bool(required)
                    ),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=mask),
            ),
        )
    if not json_mode(ctx) and changed.backfilled_keys:
        render.out.print(f"indexed {changed.backfilled_keys} existing values of {slug}")
    _show_type(ctx, changed.entity_type)


@fields.command("remove")
def fields_remove(ctx: typer.Context, entity_type: str, slug: str) -> None:
    """Remove a field and its values from every record."""
    with admin_api(ctx) as api:
        changed = api.call(
            api.stub.DeleteField,
            admin_pb2.DeleteFieldRequest(
                name=f"{api.workspace}/entityTypes/{entity_type}/fields/{slug}"
            ),
        )
    _show_type(ctx, changed.entity_type)


# -- endpoints ------------------------------------------------------------------------------


def _endpoint_name(api: Admin, key: str) -> str:
    """The endpoint's resource name from its id, the start of its id, or its name."""
    if key.startswith("workspaces/"):
        return key
    if not is_full_id(key):
        key = resolve_id(key, (e.id for e in _all_endpoints(api)), "endpoint", "ENDPOINT_NOT_FOUND")
    return f"{api.workspace}/ingestEndpoints/{key}"


def _all_endpoints(api: Admin) -> list[admin_pb2.IngestEndpoint]:
    return api.every(
        api.stub.ListIngestEndpoints,
        admin_pb2.ListIngestEndpointsRequest(parent=api.workspace),
        "ingest_endpoints",
    )


def _url(ctx: typer.Context, path: str) -> str:
    options: Options = ctx.obj
    return options.ingest_url.rstrip("/") + path


def _endpoint_rows(found: list[admin_pb2.IngestEndpoint]) -> list[list[Any]]:
    return [
        [
            e.id,
            e.display_name,
            e.entity_type,
            "enabled" if e.enabled else "disabled",
            e.default_region,
            f"{e.rate_limit}/{format_duration(e.rate_window_seconds)}",
            e.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
        ]
        for e in found
    ]


_ENDPOINT_COLUMNS: list[str | Column] = [
    Column("id", id_=True),
    "name",
    "type",
    "state",
    "region",
    "rate limit",
    "created (UTC)",
]


def _endpoint_table(ctx: typer.Context, found: list[admin_pb2.IngestEndpoint]) -> None:
    """Endpoints in a table; the creation time only when wide (80 columns hold the rest)."""
    mode = output_mode(ctx)
    keep = len(_ENDPOINT_COLUMNS) if mode == render.WIDE else -1
    rows = [row[:keep] for row in _endpoint_rows(found)]
    render.table(None, _ENDPOINT_COLUMNS[:keep], rows, mode=mode)


_RATE_LIMIT_HELP = "Pushes allowed per window; more are answered 429"
_RATE_WINDOW_HELP = "The rate-limit window, a duration such as 90s, 1m or 1h"


def _show_endpoint(ctx: typer.Context, e: admin_pb2.IngestEndpoint) -> None:
    if json_mode(ctx):
        render.emit_json(render.as_dict(e))
        return
    _endpoint_table(ctx, [e])
    if e.HasField("previous_token_expire_time"):
        render.out.print(
            f"previous token valid until {e.previous_token_expire_time.ToJsonString()}"
        )


def _show_secret(
    ctx: typer.Context, e: admin_pb2.IngestEndpoint, url_path: str, **extra: Any
) -> None:
    url = _url(ctx, url_path)
    if json_mode(ctx):
        render.emit_json({"ingest_endpoint": render.as_dict(e), "url": url, **extra})
        return
    _show_endpoint(ctx, e)
    render.out.print(f"\nURL (shown once, keep it secret):\n  {url}")


@endpoints.command("create")
def endpoints_create(
    ctx: typer.Context,
    entity_type: Annotated[str, typer.Option("--entity-type", "-t", help="Target type.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    region: Annotated[str, typer.Option(help="Default phone region, e.g. NO.")] = "",
    rate_limit: Annotated[
        int | None, typer.Option(help=f"{_RATE_LIMIT_HELP} (default 6000).", show_default=False)
    ] = None,
    rate_window: Annotated[
        str, typer.Option(help=f"{_RATE_WINDOW_HELP} (default 1m).", show_default=False)
    ] = "",
) -> None:
    """Create an endpoint; prints its secret URL once."""
    # 0 asks the API for the default, so an option given as 0 must be refused here.
    limit = rate_limit_option(rate_limit) if rate_limit is not None else 0
    window = whole_seconds("--rate-window", rate_window) if rate_window else 0
    with admin_api(ctx) as api:
        made = api.call(
            api.stub.CreateIngestEndpoint,
            admin_pb2.CreateIngestEndpointRequest(
                parent=api.workspace,
                ingest_endpoint=admin_pb2.IngestEndpoint(
                    display_name=name,
                    entity_type=entity_type,
                    default_region=region,
                    rate_limit=limit,
                    rate_window_seconds=window,
                ),
            ),
        )
    _show_secret(ctx, made.ingest_endpoint, made.url_path)


@endpoints.command("list")
def endpoints_list(ctx: typer.Context) -> None:
    """List endpoints, newest first."""
    with admin_api(ctx) as api:
        found = _all_endpoints(api)
    if json_mode(ctx):
        render.emit_json([render.as_dict(e) for e in found])
    else:
        _endpoint_table(ctx, found)


@endpoints.command("show")
def endpoints_show(ctx: typer.Context, endpoint: str) -> None:
    """Show an endpoint (never its token)."""
    with admin_api(ctx) as api:
        got = api.call(
            api.stub.GetIngestEndpoint,
            admin_pb2.GetIngestEndpointRequest(name=_endpoint_name(api, endpoint)),
        )
    _show_endpoint(ctx, got.ingest_endpoint)


def _update_endpoint(ctx: typer.Context, endpoint: str, paths: list[str], **values: Any) -> None:
    with admin_api(ctx) as api:
        changed = api.call(
            api.stub.UpdateIngestEndpoint,
            admin_pb2.UpdateIngestEndpointRequest(
                ingest_endpoint=admin_pb2.IngestEndpoint(
                    name=_endpoint_name(api, endpoint), **values
                ),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            ),
        )
    _show_endpoint(ctx, changed.ingest_endpoint)


def _set_enabled(ctx: typer.Context, endpoint: str, enabled: bool) -> None:
    _update_endpoint(ctx, endpoint, ["enabled"], enabled=enabled)


@endpoints.command("update")
def endpoints_update(
    ctx: typer.Context,
    endpoint: str,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    rate_limit: Annotated[int | None, typer.Option(help=f"{_RATE_LIMIT_HELP}.")] = None,
    rate_window: Annotated[str | None, typer.Option(help=f"{_RATE_WINDOW_HELP}.")] = None,
) -> None:
    """Change an endpoint's display name or rate limit; what is not given stays."""
    values = name_and_rate_changes(name, rate_limit, rate_window)
    _update_endpoint(ctx, endpoint, list(values), **values)


@endpoints.command("disable")
def endpoints_disable(ctx: typer.Context, endpoint: str) -> None:
    """Disable an endpoint: its URL answers 404 until enabled again."""
    _set_enabled(ctx, endpoint, False)


@endpoints.command("enable")
def endpoints_enable(ctx: typer.Context, endpoint: str) -> None:
    """Enable a disabled endpoint."""
    _set_enabled(ctx, endpoint, True)


@endpoints.command("rotate")
def endpoints_rotate(
    ctx: typer.Context,
    endpoint: str,
    grace: Annotated[
        str,
        typer.Option(help="Keep the old URL working this long, e.g. 10m (default: not at all)."),
    ] = "",
) -> None:
    """Replace the secret URL; the old one stops working (after --grace, if given)."""
    period = duration("--grace", grace) if grace else duration_pb2.Duration()
    with admin_api(ctx) as api:
        rotated = api.call(
            api.stub.RotateIngestEndpointToken,
            admin_pb2.RotateIngestEndpointTokenRequest(
                name=_endpoint_name(api, endpoint), grace_period=period
            ),
        )
    _show_secret(ctx, rotated.ingest_endpoint, rotated.url_path)


@endpoints.command("delete")
def endpoints_delete(ctx: typer.Context, endpoint: str) -> None:
    """Delete an endpoint and its activity log."""
    with admin_api(ctx) as api:
        api.call(
            api.stub.DeleteIngestEndpoint,
            admin_pb2.DeleteIngestEndpointRequest(name=_endpoint_name(api, endpoint)),
        )
    if json_mode(ctx):
        render.emit_json({"deleted": endpoint})
    else:
        render.out.print(f"deleted endpoint {endpoint}")


@endpoints.command("example")
def endpoints_example(ctx: typer.Context, endpoint: str) -> None:
    """A ready JSON body for the endpoint, with each field's type and flags."""
    with admin_api(ctx) as api:
        got = api.call(
            api.stub.GetIngestEndpointExample,
            admin_pb2.GetIngestEndpointExampleRequest(name=_endpoint_name(api, endpoint)),
        )
    body = render.as_dict(got)
    if json_mode(ctx):
        render.emit_json(body)
        return
    render.emit_json(body.get("payload", {}))
    render.table(
        None,
        ["path", "type", "unique", "required"],
        [
            [
                f.path,
                TYPE_LABELS.get(f.type, "?"),
                "yes" if f.unique else "",
                "yes" if f.required else "",
            ]
            for f in got.fields
        ],
        mode=output_mode(ctx),
    )


def _outcome_line(outcome: dict[str, Any]) -> str:
    if "error" in outcome:
        error = outcome["error"] or {}
        parts = [str(error.get("code", "error"))]
        for bad in error.get("errors") or error.get("violations") or []:
            parts.append(f"{bad.get('field')}: {bad.get('code') or bad.get('reason')}")
        return "; ".join(parts)
    pieces = []
    for label, result in [("record", outcome.get("record"))] + [
        (f"related.{k}", v) for k, v in (outcome.get("related") or {}).items()
    ]:
        if result:
            matched = result.get("matched_on")
            on = f" on {','.join(matched)}" if matched else ""
            pieces.append(f"{label} {result.get('action')}{on} {result.get('id', '')}")
    return "; ".join(pieces)


@endpoints.command("log")
def endpoints_log(
    ctx: typer.Context,
    endpoint: str,
    status: Annotated[int, typer.Option(help="Only this HTTP status.")] = 0,
    errors: Annotated[bool, typer.Option("--errors", help="Only failed requests.")] = False,
    since: Annotated[str, typer.Option(help="ISO 8601 time, or a duration ago (1h).")] = "",
    until: Annotated[str, typer.Option(help="ISO 8601 time, or a duration ago (10m).")] = "",
    limit: Annotated[int, typer.Option(help="Entries per page (at most 500).")] = 20,
    page_token: Annotated[str, typer.Option(help="Next page, from a previous call.")] = "",
) -> None:
    """The endpoint's activity log, newest first."""
    request = admin_pb2.ListActivityEntriesRequest(
        page_size=limit, page_token=page_token, status_code=status, errors_only=errors
    )
    if since:
        request.start_time.CopyFrom(timestamp("--since", since))
    if until:
        request.end_time.CopyFrom(timestamp("--until", until))
    with admin_api(ctx) as api:
        request.parent = _endpoint_name(api, endpoint)
        page = api.call(api.stub.ListActivityEntries, request)
    if json_mode(ctx):
        render.emit_json(render.as_dict(page))
        return
    rows = []
    for entry in page.activity_entries:
        outcome = render.as_dict(entry).get("outcome", {})
        rows.append(
            [
                entry.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
                entry.request_id,
                entry.status_code,
                ("previous token; " if entry.previous_token else "") + _outcome_line(outcome),
            ]
        )
    render.table(
        None,
        ["time (UTC)", Column("request id", id_=True), "status", "outcome"],
        rows,
        mode=output_mode(ctx),
    )
    if page.next_page_token:
        render.out.print(f"more: --page-token {page.next_page_token}")


# -- records --------------------------------------------------------------------------------


def _show_records(ctx: typer.Context, found: list[admin_pb2.Record], more: str = "") -> None:
    if json_mode(ctx):
        dicts = [render.as_dict(r) for r in found]
        render.emit_json(
            dicts[0] if len(dicts) == 1 and not more and ctx.command.name != "list" else dicts
        )
        return
    render.table(
        None,
        [Column("id", id_=True), "values", "updated (UTC)"],
        [
            [
                r.id,
                render.fields_line(render.as_dict(r).get("values", {})),
                r.update_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
            ]
            for r in found
        ],
        mode=output_mode(ctx),
    )
    if more:
        render.out.print(f"more: --page-token {more}")


@records.command("get")
def records_get(ctx: typer.Context, entity_type: str, record_id: str) -> None:
    """A record by id (or the start of it, as tables show it)."""
    with admin_api(ctx) as api:
        if not is_full_id(record_id):
            record_id = resolve_id(
                record_id,
                _recent_record_ids(api, entity_type),
                f"{entity_type} record",
                "RECORD_NOT_FOUND",
            )
        got = api.call(
            api.stub.GetRecord,
            admin_pb2.GetRecordRequest(
                name=f"{api.workspace}/entityTypes/{entity_type}/records/{record_id}"
            ),
        )
    _show_records(ctx, [got.record])


# A short id is looked up among this many of the newest records; past them, give it whole.
_SHORT_ID_SCAN = 5000


def _recent_record_ids(api: Admin, entity_type: str) -> list[str]:
    ids: list[str] = []
    for page in every_page(
        lambda token: api.call(
            api.stub.ListRecords,
            admin_pb2.ListRecordsRequest(
                parent=f"{api.workspace}/entityTypes/{entity_type}",
                page_size=500,
                page_token=token,
            ),
        )
    ):
        ids.extend(r.id for r in page.records)
        if len(ids) >= _SHORT_ID_SCAN:
            break
    return ids


@records.command("list")
def records_list(
    ctx: typer.Context,
    entity_type: str,
    limit: Annotated[int, typer.Option(help="Records per page (at most 500).")] = 20,
    page_token: Annotated[str, typer.Option(help="Next page, from a previous call.")] = "",
) -> None:
    """An entity type's records, newest first."""
    with admin_api(ctx) as api:
        page = api.call(
            api.stub.ListRecords,
            admin_pb2.ListRecordsRequest(
                parent=f"{api.workspace}/entityTypes/{entity_type}",
                page_size=limit,
                page_token=page_token,
            ),
        )
    _show_records(ctx, list(page.records), page.next_page_token)


@records.command("find")
def records_find(
    ctx: typer.Context,
    entity_type: str,
    field: str,
    value: str,
    region: Annotated[
        str, typer.Option(help="Region (e.g. NO) of a phone number without +<country code>.")
    ] = "",
) -> None:
    """The record whose unique FIELD has VALUE (normalised as ingest does)."""
    with admin_api(ctx) as api:
        got = api.call(
            api.stub.LookupRecord,
            admin_pb2.LookupRecordRequest(
                parent=f"{api.workspace}/entityTypes/{entity_type}",
                field=field,
                value=value,
                default_region=region,
            ),
        )
    _show_records(ctx, [got.record])


# -- import ---------------------------------------------------------------------------------


def _field_types(ctx: typer.Context, entity_type: str) -> dict[str, str]:
    """body path → field type, for turning CSV text into typed JSON values."""
    with admin_api(ctx) as api:
        fetched: dict[str, entity_pb2.EntityType] = {}

        def get(slug: str) -> entity_pb2.EntityType:
            # Several fields may reference the same type: fetch each type once.
            if slug not in fetched:
                fetched[slug] = api.call(
                    api.stub.GetEntityType,
                    admin_pb2.GetEntityTypeRequest(name=f"{api.workspace}/entityTypes/{slug}"),
                ).entity_type
            return fetched[slug]

        types: dict[str, str] = {}
        for f in get(entity_type).fields:
            types[f"fields.{f.slug}"] = TYPE_LABELS.get(f.type, "text")
            if f.reference_entity_type:
                for g in get(f.reference_entity_type).fields:
                    types[f"related.{f.slug}.{g.slug}"] = TYPE_LABELS.get(g.type, "text")
    return types


@app.command("import")
def import_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or NDJSON.")],
    endpoint: Annotated[
        str,
        typer.Option(envvar="INLET_ENDPOINT_URL", help="The endpoint's URL (or its iep_ token)."),
    ] = "",
    entity_type: Annotated[
        str, typer.Option(help="Type the CSV columns by this entity type (needs admin access).")
    ] = "",
    failed: Annotated[
        Path | None, typer.Option(help="Where failed rows go (default FILE.failed.<ext>).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Requests in flight.")] = 16,
) -> None:
    """Push every row of FILE through an ingest endpoint; failed rows go to a file to fix."""
    target = endpoint
    if not target:
        raise usage_error("no endpoint: pass --endpoint URL (or set INLET_ENDPOINT_URL)")
    if not target.startswith(("http://", "https://")):
        target = _url(ctx, f"/api/v1/ingest/{target}")
    types = _field_types(ctx, entity_type) if entity_type else {}
    try:
        rows, fmt, header = importer.read_rows(file, types)
    except (OSError, UnicodeDecodeError) as error:
        raise usage_error(f"cannot read {file}: {error}") from None
    quiet = json_mode(ctx)
    with Progress(
        TextColumn("importing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        render.TimeLeft(),
        console=render.err,
        disable=quiet,
    ) as progress:
        task = progress.add_task(file.name, total=len(rows))
        advance: Callable[[], None] = lambda: progress.advance(task)  # noqa: E731
        summary = asyncio.run(
            importer.push_all(target, rows, concurrency=concurrency, on_done=advance)
        )
    failed_path = failed or file.with_name(f"{file.stem}.failed{file.suffix or '.csv'}")
    if summary.failed:
        importer.write_failed(failed_path, fmt, header, summary)
    result = {
        "rows": summary.total,
        "created": summary.created,
        "updated": summary.updated,
        "failed": len(summary.failed),
        "failed_file": str(failed_path) if summary.failed else None,
    }
    if quiet:
        render.emit_json(result)
    else:
        render.table(
            None,
            ["rows", "created", "updated", "failed"],
            [[summary.total, summary.created, summary.updated, len(summary.failed)]],
            mode=output_mode(ctx),
        )
        for row, problem in summary.failed[:5]:
            render.out.print(f"  row {row.number}: {problem}")
        if len(summary.failed) > 5:
            render.out.print(f"  … and {len(summary.failed) - 5} more")
        if summary.failed:
            render.out.print(f"failed rows written to {failed_path}: fix them and import it again")
    if summary.failed:
        raise typer.Exit(EXIT_FAILED)
