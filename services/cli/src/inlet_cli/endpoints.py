"""`inlet endpoints …`: ingest endpoints, their tokens, example bodies and activity logs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from google.protobuf import duration_pb2, field_mask_pb2

from inlet.admin.v1 import admin_pb2
from inlet_cli import render
from inlet_cli.client import (
    Admin,
    duration,
    is_full_id,
    json_mode,
    name_and_rate_changes,
    output_mode,
    rate_limit_option,
    resolve_id,
    timestamp,
    whole_seconds,
)
from inlet_cli.options import (
    TYPE_LABELS,
    admin_api,
    ingest_url,
)
from inlet_cli.render import Column
from inlet_common.durations import format_duration

endpoints = typer.Typer(help="Ingest endpoints: secret URLs bound to a type.", no_args_is_help=True)


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
    url = ingest_url(ctx, url_path)
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
