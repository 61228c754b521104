"""`inlet integrations …`: where integration ingest writes, its mapping, and its log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from google.api import httpbody_pb2
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import integrations_pb2
from inlet_cli import render
from inlet_cli.client import (
    json_mode,
    output_mode,
    rate_limit_option,
    usage_error,
    whole_seconds,
)
from inlet_cli.integrations.activity import show_activity
from inlet_cli.integrations.api import all_integrations, api
from inlet_cli.integrations.shown import byte_size, rate, when
from inlet_cli.render import Column
from inlet_common import exactjson

app = typer.Typer(
    help="Integrations: where POST /api/v1/external/data-ingestion/{id} writes, and how.",
    no_args_is_help=True,
)

TYPES = ("GENERIC", "MAPPING", "TYPEFORM", "CALENDLY")


def _read_json(option: str, path: Path) -> Any:
    try:
        return exactjson.loads(path.read_bytes())
    except OSError as error:
        raise usage_error(f"{option}: cannot read {path}: {error.strerror}") from None
    except exactjson.DecodeError as error:
        raise usage_error(f"{option}: {path} is not JSON: {error}") from None


# -- integrations ---------------------------------------------------------------------------


def _show_integrations(ctx: typer.Context, found: list[integrations_pb2.Integration]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(i) for i in found])
        return
    mode = output_mode(ctx)
    columns: list[str | Column] = ["id", "type", "entity type", "state", "rate limit", "body cap"]
    rows = [
        [
            i.id,
            i.type,
            i.entity_type,
            "enabled" if i.enabled else "disabled",
            rate(i.rate_limit, i.rate_window_seconds),
            byte_size(i.max_body_bytes),
        ]
        for i in found
    ]
    if mode == render.WIDE:
        columns += ["name", "region", "created (UTC)"]
        for row, i in zip(rows, found, strict=True):
            row += [i.display_name, i.default_region, when(i.create_time)]
    render.table(None, columns, rows, mode=mode)


def _show_integration(ctx: typer.Context, found: integrations_pb2.Integration) -> None:
    if json_mode(ctx):
        render.emit_json(render.as_dict(found))
        return
    _show_integrations(ctx, [found])
    options: Any = ctx.obj
    render.out.print(
        f"\nPOST {options.ingest_url.rstrip('/')}/api/v1/external/data-ingestion/{found.id}"
        "  (Authorization: Bearer <project token>)",
        markup=False,
    )
    if found.HasField("mapping"):
        render.out.print("mapping:", markup=False)
        render.emit_json(render.as_dict(found).get("mapping"))


@app.command("create")
def integrations_create(
    ctx: typer.Context,
    integration_id: Annotated[
        str, typer.Argument(help="Its id in the URL (a-z 0-9 _ -); e.g. typeform-leads.")
    ],
    type_: Annotated[str, typer.Option("--type", help=", ".join(TYPES))],
    entity_type: Annotated[str, typer.Option("--entity-type", "-t", help="Records' type.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    region: Annotated[str, typer.Option(help="Default phone region (ISO 3166), e.g. NO.")] = "",
    mapping: Annotated[
        Path | None,
        typer.Option(help="A JSON file with the mapping (MAPPING; overrides a vendor's)."),
    ] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option(help="Largest body accepted (default and most: 1048576).")
    ] = None,
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per window (default 6000).", show_default=False)
    ] = None,
    rate_window: Annotated[
        str, typer.Option(help="The rate-limit window, e.g. 90s or 1m (default 1m).")
    ] = "",
) -> None:
    """Create an integration."""
    spec = integrations_pb2.Integration(
        display_name=name,
        type=type_.upper(),
        entity_type=entity_type,
        default_region=region,
        max_body_bytes=max_body_bytes or 0,
        rate_limit=rate_limit_option(rate_limit) if rate_limit is not None else 0,
        rate_window_seconds=whole_seconds("--rate-window", rate_window) if rate_window else 0,
    )
    if mapping is not None:
        spec.mapping.CopyFrom(exactjson.to_raw(_read_json("--mapping", mapping)))
    with api(ctx) as client:
        made = client.call(
            client.stub.CreateIntegration,
            integrations_pb2.CreateIntegrationRequest(
                parent=client.workspace, integration_id=integration_id, integration=spec
            ),
        )
    _show_integration(ctx, made.integration)


@app.command("list")
def integrations_list(ctx: typer.Context) -> None:
    """List the workspace's integrations."""
    with api(ctx) as client:
        found = all_integrations(client)
    _show_integrations(ctx, found)


@app.command("show")
def integrations_show(ctx: typer.Context, integration_id: str) -> None:
    """Show an integration, its URL and its mapping."""
    with api(ctx) as client:
        got = client.call(
            client.stub.GetIntegration,
            integrations_pb2.GetIntegrationRequest(name=client.integration(integration_id)),
        )
    _show_integration(ctx, got.integration)


def _update(ctx: typer.Context, integration_id: str, paths: list[str], **values: Any) -> None:
    """Change exactly the given fields (the mask names them and no others)."""
    mapping = values.pop("mapping", None)
    spec = integrations_pb2.Integration(**values)
    if mapping is not None:
        spec.mapping.CopyFrom(mapping)
    with api(ctx) as client:
        spec.name = client.integration(integration_id)
        got = client.call(
            client.stub.UpdateIntegration,
            integrations_pb2.UpdateIntegrationRequest(
                integration=spec, update_mask=field_mask_pb2.FieldMask(paths=paths)
            ),
        )
    _show_integration(ctx, got.integration)


@app.command("update")
def integrations_update(
    ctx: typer.Context,
    integration_id: str,
    type_: Annotated[str | None, typer.Option("--type", help=", ".join(TYPES))] = None,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    region: Annotated[str | None, typer.Option(help="Default phone region.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="A JSON file with the new mapping.")] = None,
    no_mapping: Annotated[
        bool, typer.Option("--no-mapping", help="Drop the mapping (a vendor's ready-made one).")
    ] = False,
    max_body_bytes: Annotated[int | None, typer.Option(help="Largest body accepted.")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="Requests per window.")] = None,
    rate_window: Annotated[
        str | None, typer.Option(help="The rate-limit window, e.g. 90s or 1m.")
    ] = None,
) -> None:
    """Change an integration; what is not given stays."""
    if mapping is not None and no_mapping:
        raise usage_error("--mapping and --no-mapping contradict each other")
    values: dict[str, Any] = {}
    if type_ is not None:
        values["type"] = type_.upper()
    if name is not None:
        values["display_name"] = name
    if region is not None:
        values["default_region"] = region
    if mapping is not None:
        values["mapping"] = exactjson.to_raw(_read_json("--mapping", mapping))
    if no_mapping:
        values["mapping"] = None
    if max_body_bytes is not None:
        values["max_body_bytes"] = max_body_bytes
    if rate_limit is not None:
        values["rate_limit"] = rate_limit_option(rate_limit)
    if rate_window is not None:
        values["rate_window_seconds"] = whole_seconds("--rate-window", rate_window)
    if not values:
        raise usage_error(
            "nothing to change: pass --type, --name, --region, --mapping, --no-mapping,"
            " --max-body-bytes, --rate-limit or --rate-window"
        )
    _update(ctx, integration_id, list(values), **values)


@app.command("enable")
def integrations_enable(ctx: typer.Context, integration_id: str) -> None:
    """Enable an integration."""
    _update(ctx, integration_id, ["enabled"], enabled=True)


@app.command("disable")
def integrations_disable(ctx: typer.Context, integration_id: str) -> None:
    """Disable an integration: its URL answers 403 INTEGRATION_DISABLED."""
    _update(ctx, integration_id, ["enabled"], enabled=False)


@app.command("delete")
def integrations_delete(ctx: typer.Context, integration_id: str) -> None:
    """Delete an integration and its queued requests."""
    with api(ctx) as client:
        client.call(
            client.stub.DeleteIntegration,
            integrations_pb2.DeleteIntegrationRequest(name=client.integration(integration_id)),
        )
    if json_mode(ctx):
        render.emit_json({"deleted": integration_id})
    else:
        render.out.print(f"deleted integration {integration_id}", markup=False)


@app.command("test-mapping")
def integrations_test_mapping(
    ctx: typer.Context,
    integration_id: str,
    sample: Annotated[Path, typer.Argument(help="A JSON file: a body as the vendor sends it.")],
) -> None:
    """What the integration's mapping finds in a sample body (writes nothing)."""
    try:
        data = sample.read_bytes()
    except OSError as error:
        raise usage_error(f"cannot read {sample}: {error.strerror}") from None
    with api(ctx) as client:
        got = client.call(
            client.stub.TestIntegrationMapping,
            integrations_pb2.TestIntegrationMappingRequest(
                name=client.integration(integration_id),
                sample=httpbody_pb2.HttpBody(content_type="application/json", data=data),
            ),
        )
    found = render.as_dict(got)
    if json_mode(ctx):
        render.emit_json(found)
        return
    for problem in found.get("errors", []):
        render.out.print(f"{problem['field']}: {problem['message']}", markup=False)
    render.table(
        None,
        ["item", "values", "related", "problems"],
        [
            [
                item.get("index", 0),
                render.fields_line(item.get("values", {})),
                "; ".join(
                    f"{slug}: {render.fields_line(values)}"
                    for slug, values in item.get("related", {}).items()
                ),
                "; ".join(f"{p['field']}: {p['code']}" for p in item.get("errors", [])),
            ]
            for item in found.get("items", [])
        ],
        mode=output_mode(ctx),
    )


@app.command("log")
def integrations_log(
    ctx: typer.Context,
    integration_id: str,
    limit: Annotated[int, typer.Option(help="Newest N entries.")] = 50,
) -> None:
    """Every request to the integration that named a valid token: status, items, errors."""
    with api(ctx) as client:
        parent = client.integration(integration_id)
    show_activity(ctx, parent, limit)


# -- project tokens ---------------------------------------------------------------------------
