"""`inlet api-keys …` and `inlet sessions …`: push transfer's workspace API keys, its
sessions (types, default webhooks, example transfer) and a session's activity log."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, cast

import typer
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import push_pb2, push_pb2_grpc
from inlet.type.v1 import entity_pb2
from inlet_cli import render
from inlet_cli.client import (
    Client,
    Settings,
    json_mode,
    opened,
    output_mode,
    rate_limit_option,
    show_secret,
    usage_error,
    whole_seconds,
)
from inlet_cli.render import Column
from inlet_common import exactjson
from inlet_common.durations import format_duration

api_keys = typer.Typer(
    help="Workspace API keys (ak_…) for push transfer (POST /api/push/transfer).",
    no_args_is_help=True,
)
sessions = typer.Typer(
    help="Push transfer sessions: the endgrate types transfers may push and where they go.",
    no_args_is_help=True,
)


class Api(Client[push_pb2_grpc.PushAdminServiceStub]):
    """PushAdminService (served by the store, next to AdminService) with the admin token."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, push_pb2_grpc.PushAdminServiceStub)

    def key(self, key_id: str) -> str:
        return f"{self.workspace}/apiKeys/{key_id.removeprefix('ak_')}"

    def session(self, session_id: str) -> str:
        return f"{self.workspace}/sessions/{session_id}"


def api(ctx: typer.Context) -> contextlib.AbstractContextManager[Api]:
    return opened(ctx.obj, Api)


def _when(stamp: Any) -> str:
    return stamp.ToDatetime().isoformat(timespec="seconds") + "Z" if stamp.seconds else ""


def _key_state(k: push_pb2.ApiKey) -> str:
    if k.HasField("revoke_time"):
        return "revoked"
    if k.HasField("expire_time"):
        return f"expires {_when(k.expire_time)}"
    return "active"


def _show_keys(ctx: typer.Context, found: list[push_pb2.ApiKey]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(k) for k in found])
        return
    render.table(
        None,
        ["key", "name", "rate limit", "state", "created"],
        [
            [
                k.prefix,
                k.display_name,
                f"{k.rate_limit}/{format_duration(k.rate_window_seconds)}",
                _key_state(k),
                _when(k.create_time),
            ]
            for k in found
        ],
        mode=output_mode(ctx),
    )


def _show_secret(ctx: typer.Context, key: push_pb2.ApiKey, secret: str) -> None:
    show_secret(ctx, "api_key", key, f"API key {key.prefix}", secret, "key")


@api_keys.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    rate_limit: Annotated[int, typer.Option(help="Requests per window (default 6000).")] = 0,
    window: Annotated[
        str, typer.Option(help="The rate-limit window, e.g. 90s or 1m (default 1m).")
    ] = "",
) -> None:
    """Create an API key; prints it once."""
    window_seconds = whole_seconds("--window", window) if window else 0
    if rate_limit:
        rate_limit_option(rate_limit)
    with api(ctx) as client:
        got = client.call(
            client.stub.CreateApiKey,
            push_pb2.CreateApiKeyRequest(
                parent=client.workspace,
                api_key=push_pb2.ApiKey(
                    display_name=name, rate_limit=rate_limit, rate_window_seconds=window_seconds
                ),
            ),
        )
    _show_secret(ctx, got.api_key, got.secret)


@api_keys.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List the workspace's API keys (never their secrets)."""
    with api(ctx) as client:
        found = client.every(
            client.stub.ListApiKeys,
            push_pb2.ListApiKeysRequest(parent=client.workspace),
            "api_keys",
        )
    _show_keys(ctx, found)


@api_keys.command("revoke")
def keys_revoke(ctx: typer.Context, key: Annotated[str, typer.Argument(help="ak_<id>.")]) -> None:
    """Revoke a key at once."""
    with api(ctx) as client:
        got = client.call(
            client.stub.RevokeApiKey, push_pb2.RevokeApiKeyRequest(name=client.key(key))
        )
    _show_keys(ctx, [got.api_key])


@api_keys.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="ak_<id>.")],
    grace: Annotated[
        str,
        typer.Option(help="Keep the old key working this long, e.g. 10m (default: not at all)."),
    ] = "",
) -> None:
    """Replace a key; prints the new one once."""
    grace_seconds = whole_seconds("--grace", grace, minimum=0) if grace else 0
    with api(ctx) as client:
        got = client.call(
            client.stub.RotateApiKey,
            push_pb2.RotateApiKeyRequest(name=client.key(key), grace_seconds=grace_seconds),
        )
    _show_secret(ctx, got.api_key, got.secret)


# -- sessions ---------------------------------------------------------------------------------


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


def _type_specs(types: list[str], maps: list[str]) -> list[push_pb2.SessionType]:
    """--type NAME[=ENTITY_TYPE] and --map NAME.FIELD=ENTITY_FIELD as session types."""
    found: dict[str, push_pb2.SessionType] = {}
    for given in types:
        name, _, entity_type = given.partition("=")
        if not name:
            raise usage_error(f"--type: {given!r} is not NAME or NAME=ENTITY_TYPE")
        found[name] = push_pb2.SessionType(endgrate_type=name, entity_type=entity_type)
    for given in maps:
        left, _, slug = given.partition("=")
        name, _, field = left.partition(".")
        if not (name and field and slug):
            raise usage_error(f"--map: {given!r} is not TYPE.FIELD=ENTITY_FIELD")
        if name not in found:
            raise usage_error(f"--map: {name!r} is not one of the --type values")
        found[name].field_map[field] = slug
    return list(found.values())


def _webhook(url: str | None, metadata: dict[str, Any] | None) -> push_pb2.PushWebhook | None:
    if url is None:
        return None
    hook = push_pb2.PushWebhook(endpoint=url)
    if metadata is not None:
        hook.metadata.json = exactjson.dumps(metadata).decode()
    return hook


def _metadata(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = exactjson.loads(text)
    except exactjson.DecodeError as error:
        raise usage_error(f"--webhook-metadata: not JSON: {error}") from None
    if not isinstance(value, dict):
        raise usage_error("--webhook-metadata: must be a JSON object")
    return value


TypeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        help="An endgrate type the session carries: crm-contact, crm-company (ready-made),"
        " or NAME=ENTITY_TYPE. Repeat for more.",
    ),
]
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map", help="TYPE.FIELD=ENTITY_FIELD: write a pushed field to another entity field."
    ),
]


@sessions.command("create")
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
    metadata = _metadata(webhook_metadata)
    session = push_pb2.Session(
        display_name=name, default_region=region, types=_type_specs(type_, map_ or [])
    )
    for kind, url in (
        ("data", data_webhook),
        ("completed", completed_webhook),
        ("error", error_webhook),
    ):
        hook = _webhook(url, metadata)
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


@sessions.command("list")
def sessions_list(ctx: typer.Context) -> None:
    """List the workspace's sessions."""
    with api(ctx) as client:
        found = client.every(
            client.stub.ListSessions,
            push_pb2.ListSessionsRequest(parent=client.workspace),
            "sessions",
        )
    _show_sessions(ctx, found)


@sessions.command("show")
def sessions_show(ctx: typer.Context, session_id: str) -> None:
    """One session: its types and default webhooks."""
    with api(ctx) as client:
        got = client.call(
            client.stub.GetSession, push_pb2.GetSessionRequest(name=client.session(session_id))
        )
    _show_sessions(ctx, [got.session])


@sessions.command("update")
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
        session.types.extend(_type_specs(type_, map_ or []))
        paths.append("types")
    elif map_:
        raise usage_error("--map: give the session's --type values with it")
    if name is not None:
        session.display_name = name
        paths.append("display_name")
    if region is not None:
        session.default_region = region
        paths.append("default_region")
    metadata = _metadata(webhook_metadata)
    for kind, url in (
        ("data", data_webhook),
        ("completed", completed_webhook),
        ("error", error_webhook),
    ):
        if url is None:
            continue
        # An empty URL removes the default.
        hook = _webhook(url, metadata) if url else None
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


@sessions.command("delete")
def sessions_delete(ctx: typer.Context, session_id: str) -> None:
    """Delete a session with its transfers and log (records stay)."""
    with api(ctx) as client:
        client.call(
            client.stub.DeleteSession,
            push_pb2.DeleteSessionRequest(name=client.session(session_id)),
        )
    render.out.print(f"session {session_id} deleted")


@sessions.command("example")
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


@sessions.command("log")
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
                _when(e.create_time),
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
