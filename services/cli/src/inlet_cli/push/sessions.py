"""`inlet sessions …`: push transfer sessions, their example transfer and activity log."""

from __future__ import annotations

from typing import Annotated, Any, cast

import typer
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import push_pb2
from inlet.type.v1 import entity_pb2
from inlet_cli import render
from inlet_cli.client import json_mode, output_mode, usage_error
from inlet_cli.push.api import api, when
from inlet_cli.push.session_options import (
    MapOption,
    TypeOption,
    metadata_option,
    type_specs,
    webhook_spec,
)
from inlet_cli.render import Column
from inlet_common import exactjson

app = typer.Typer(
    help="Push transfer sessions: the endgrate types transfers may push and where they go.",
    no_args_is_help=True,
)


def _types_line(s: push_pb2.Session) -> str:
    parts = []
    for t in s.types:
        target = (
            t.endgrate_type
            if t.entity_type == t.endgrate_type
            else f"{t.endgrate_type}→{t.entity_type}"
        )
        if t.field_map:
            target += " (" + ", ".join(f"{k}→{v}" for k, v in sorted(t.field_map.items())) + ")"
        parts.append(target)
    return ", ".join(parts)


def _webhooks_line(s: push_pb2.Session) -> str:
    return ", ".join(
        f"{kind}: {getattr(s, f'{kind}_webhook').endpoint}"
        for kind in ("data", "completed", "error")
        if cast(Any, s).HasField(f"{kind}_webhook")
    )


def _show_sessions(ctx: typer.Context, found: list[push_pb2.Session]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(s) for s in found])
        return
    render.table(
        None,
        [Column("session", id_=True), "name", "types", "default webhooks"],
        [[s.session_id, s.display_name, _types_line(s), _webhooks_line(s)] for s in found],
        mode=output_mode(ctx),
    )


@app.command("create")
def sessions_create(
    ctx: typer.Context,
    type_: TypeOption = None,
    map_: MapOption = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    region: Annotated[str, typer.Option(help="Default phone region (ISO 3166).")] = "",
    data_webhook: Annotated[str | None, typer.Option(help="Default data webhook URL.")] = None,
    completed_webhook: Annotated[
        str | None, typer.Option(help="Default completed webhook URL.")
    ] = None,
    error_webhook: Annotated[str | None, typer.Option(help="Default error webhook URL.")] = None,
    webhook_metadata: Annotated[
        str | None, typer.Option(help="JSON object sent with each default webhook.")
    ] = None,
) -> None:
    """Create a session; prints its id and, once, its webhook signing secret."""
    if not type_:
        raise usage_error("--type: give at least one endgrate type, e.g. --type crm-contact")
    metadata = metadata_option(webhook_metadata)
    session = push_pb2.Session(
        display_name=name, default_region=region, types=type_specs(type_, map_ or [])
    )
    for kind, url in (
        ("data", data_webhook),
        ("completed", completed_webhook),
        ("error", error_webhook),
    ):
        hook = webhook_spec(url, metadata)
        if hook is not None:
            getattr(session, f"{kind}_webhook").CopyFrom(hook)
    with api(ctx) as client:
        got = client.call(
            client.stub.CreateSession,
            push_pb2.CreateSessionRequest(parent=client.workspace, session=session),
        )
    if json_mode(ctx):
        render.emit_json(
            {"session": render.as_dict(got.session), "webhook_secret": got.webhook_secret}
        )
        return
    _show_sessions(ctx, [got.session])
    render.out.print(f"\nsession_id: {got.session.session_id}")
    render.out.print("webhook signing secret (shown once, keep it secret):")
    render.out.print(f"  {got.webhook_secret}", markup=False)


@app.command("list")
def sessions_list(ctx: typer.Context) -> None:
    """List the workspace's sessions."""
    with api(ctx) as client:
        found = client.every(
            client.stub.ListSessions,
            push_pb2.ListSessionsRequest(parent=client.workspace),
            "sessions",
        )
    _show_sessions(ctx, found)


@app.command("show")
def sessions_show(ctx: typer.Context, session_id: str) -> None:
    """One session: its types and default webhooks."""
    with api(ctx) as client:
        got = client.call(
            client.stub.GetSession, push_pb2.GetSessionRequest(name=client.session(session_id))
        )
    _show_sessions(ctx, [got.session])


@app.command("update")
def sessions_update(
    ctx: typer.Context,
    session_id: str,
    type_: TypeOption = None,
    map_: MapOption = None,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    region: Annotated[str | None, typer.Option(help="Default phone region.")] = None,
    data_webhook: Annotated[str | None, typer.Option(help="Default data webhook URL.")] = None,
    completed_webhook: Annotated[
        str | None, typer.Option(help="Default completed webhook URL.")
    ] = None,
    error_webhook: Annotated[str | None, typer.Option(help="Default error webhook URL.")] = None,
    webhook_metadata: Annotated[
        str | None, typer.Option(help="JSON object sent with each webhook given here.")
    ] = None,
) -> None:
    """Change what is given (--type replaces every type); the rest stays."""
    session = push_pb2.Session(name="")
    paths: list[str] = []
    if type_:
        session.types.extend(type_specs(type_, map_ or []))
        paths.append("types")
    elif map_:
        raise usage_error("--map: give the session's --type values with it")
    if name is not None:
        session.display_name = name
        paths.append("display_name")
    if region is not None:
        session.default_region = region
        paths.append("default_region")
    metadata = metadata_option(webhook_metadata)
    for kind, url in (
        ("data", data_webhook),
        ("completed", completed_webhook),
        ("error", error_webhook),
    ):
        if url is None:
            continue
        # An empty URL removes the default.
        hook = webhook_spec(url, metadata) if url else None
        if hook is not None:
            getattr(session, f"{kind}_webhook").CopyFrom(hook)
        paths.append(f"{kind}_webhook")
    if not paths:
        raise usage_error("nothing to change: pass --type, --name, --region or a webhook")
    with api(ctx) as client:
        session.name = client.session(session_id)
        got = client.call(
            client.stub.UpdateSession,
            push_pb2.UpdateSessionRequest(
                session=session, update_mask=field_mask_pb2.FieldMask(paths=paths)
            ),
        )
    _show_sessions(ctx, [got.session])


@app.command("delete")
def sessions_delete(ctx: typer.Context, session_id: str) -> None:
    """Delete a session with its transfers and log (records stay)."""
    with api(ctx) as client:
        client.call(
            client.stub.DeleteSession,
            push_pb2.DeleteSessionRequest(name=client.session(session_id)),
        )
    render.out.print(f"session {session_id} deleted")


@app.command("example")
def sessions_example(
    ctx: typer.Context,
    session_id: str,
    endgrate_type: Annotated[str, typer.Option("--type", help="The type to push.")] = "",
) -> None:
    """A transfer body for the session (sample data's values when there is some)."""
    with api(ctx) as client:
        got = client.call(
            client.stub.GetSessionExample,
            push_pb2.GetSessionExampleRequest(
                name=client.session(session_id), endgrate_type=endgrate_type
            ),
        )
    payload = exactjson.from_raw(got.payload, {})
    if json_mode(ctx):
        render.emit_json(render.as_dict(got))
        return
    render.emit_json(payload)
    render.table(
        "values from sample data" if got.from_sample_data else None,
        ["path", "type", "example"],
        [
            [
                f.path,
                entity_pb2.FieldType.Name(f.type).removeprefix("FIELD_TYPE_").lower(),
                exactjson.dumps(exactjson.from_raw(v)).decode(),
            ]
            for f, v in zip(got.fields, got.values, strict=True)
        ],
        mode=output_mode(ctx),
    )


@app.command("log")
def sessions_log(
    ctx: typer.Context,
    session_id: str,
    limit: Annotated[int, typer.Option(help="Newest N entries.")] = 50,
) -> None:
    """The session's activity log: time, request, transfer, items, status, errors."""
    with api(ctx) as client:
        got = client.call(
            client.stub.ListPushLogEntries,
            push_pb2.ListPushLogEntriesRequest(parent=client.session(session_id), page_size=limit),
        )
    entries = list(got.log_entries)
    if json_mode(ctx):
        render.emit_json([render.as_dict(e) for e in entries])
        return
    render.table(
        None,
        ["time", Column("request id", id_=True), "transfer", "items", "status", "http", "failed"],
        [
            [
                when(e.create_time),
                e.request_id,
                e.transfer_id,
                e.items_received,
                e.status,
                e.status_code,
                e.items_failed,
            ]
            for e in entries
        ],
        mode=output_mode(ctx),
    )
