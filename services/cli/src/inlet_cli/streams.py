"""`inlet streams …`: streams, their ingest keys (create, list, revoke, rotate, rate limit),
read keys (inlet_cli.read_keys) and the connector log."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import streams_pb2, streams_pb2_grpc
from inlet_cli import read_keys, render
from inlet_cli.client import (
    Client,
    Settings,
    json_mode,
    name_and_rate_changes,
    opened,
    output_mode,
    rate_limit_option,
    show_secret,
    whole_seconds,
)
from inlet_cli.render import Column
from inlet_common.durations import format_duration

app = typer.Typer(
    help="Stream ingest: streams bound to an entity type, ingest keys, connector log.",
    no_args_is_help=True,
)
keys = typer.Typer(help="Ingest keys (ik_live_…/ik_test_…) of a stream.", no_args_is_help=True)
app.add_typer(keys, name="keys")
app.add_typer(read_keys.app, name="read-keys")

MODES = {"live": streams_pb2.INGEST_KEY_MODE_LIVE, "test": streams_pb2.INGEST_KEY_MODE_TEST}
MODE_LABELS = {v: k for k, v in MODES.items()}


class Api(Client[streams_pb2_grpc.StreamAdminServiceStub]):
    """StreamAdminService (served by the store, next to AdminService) with the admin token."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, streams_pb2_grpc.StreamAdminServiceStub)

    def stream(self, slug: str) -> str:
        return f"{self.workspace}/streams/{slug}"

    def key(self, stream: str, key_id: str) -> str:
        return f"{self.stream(stream)}/ingestKeys/{key_id}"


def api(ctx: typer.Context) -> contextlib.AbstractContextManager[Api]:
    return opened(ctx.obj, Api)


def _when(stamp: Any) -> str:
    return stamp.ToDatetime().isoformat(timespec="seconds") + "Z" if stamp.seconds else ""


def _show_streams(ctx: typer.Context, found: list[streams_pb2.Stream]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(s) for s in found])
        return
    render.table(
        None,
        ["stream", "entity type", "region", "created"],
        [
            [render.short(s.name), s.entity_type, s.default_region, _when(s.create_time)]
            for s in found
        ],
        mode=output_mode(ctx),
    )


def _key_state(k: streams_pb2.IngestKey) -> str:
    if k.HasField("revoke_time"):
        return "revoked"
    if k.HasField("expire_time"):
        return f"expires {_when(k.expire_time)}"
    return "active"


def _show_keys(ctx: typer.Context, found: list[streams_pb2.IngestKey]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(k) for k in found])
        return
    render.table(
        None,
        [Column("id", id_=True), "mode", "name", "rate limit", "state", "created"],
        [
            [
                render.short(k.name),
                MODE_LABELS.get(k.mode, "live"),
                k.display_name,
                f"{k.rate_limit}/{format_duration(k.rate_window_seconds)}",
                _key_state(k),
                _when(k.create_time),
            ]
            for k in found
        ],
        mode=output_mode(ctx),
    )


def _show_secret(ctx: typer.Context, key: streams_pb2.IngestKey, secret: str) -> None:
    headline = f"ingest key {render.short(key.name)} ({MODE_LABELS.get(key.mode, 'live')})"
    show_secret(ctx, "ingest_key", key, headline, secret, "key")


@app.command("create")
def create(
    ctx: typer.Context,
    stream: Annotated[str, typer.Argument(help="Stream id, e.g. sales.")],
    entity_type: Annotated[str, typer.Option(help="Entity type slug items become.")],
    display_name: Annotated[str, typer.Option(help="Display name.")] = "",
    region: Annotated[str, typer.Option(help="Default phone region (ISO 3166).")] = "",
) -> None:
    """Create a stream bound to an entity type."""
    with api(ctx) as client:
        got = client.call(
            client.stub.CreateStream,
            streams_pb2.CreateStreamRequest(
                parent=client.workspace,
                stream_id=stream,
                stream=streams_pb2.Stream(
                    display_name=display_name, entity_type=entity_type, default_region=region
                ),
            ),
        )
    _show_streams(ctx, [got.stream])


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the workspace's streams."""
    with api(ctx) as client:
        found = client.every(
            client.stub.ListStreams,
            streams_pb2.ListStreamsRequest(parent=client.workspace),
            "streams",
        )
    _show_streams(ctx, found)


@app.command("log")
def log(
    ctx: typer.Context,
    stream: str,
    limit: Annotated[int, typer.Option(help="Newest N entries.")] = 50,
) -> None:
    """The connector log: time, request id, items, processing status, errors."""
    with api(ctx) as client:
        got = client.call(
            client.stub.ListConnectorLogEntries,
            streams_pb2.ListConnectorLogEntriesRequest(
                parent=client.stream(stream), page_size=limit
            ),
        )
    entries = list(got.connector_log_entries)
    if json_mode(ctx):
        render.emit_json([render.as_dict(e) for e in entries])
        return
    render.table(
        None,
        ["time", Column("request id", id_=True), "items", "status", "http", "failed", "errors"],
        [
            [
                _when(e.create_time),
                e.request_id,
                e.items_received,
                f"{e.status} (body differed)" if e.body_differed else e.status,
                e.status_code,
                e.items_failed,
                "; ".join(render.fields_line(render.as_dict(err)) for err in list(e.errors)[:3]),
            ]
            for e in entries
        ],
        mode=output_mode(ctx),
    )


@keys.command("create")
def keys_create(
    ctx: typer.Context,
    stream: str,
    test: Annotated[bool, typer.Option("--test", help="An ik_test_… key.")] = False,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    rate_limit: Annotated[int, typer.Option(help="Requests per window (default 6000).")] = 0,
    window: Annotated[
        str, typer.Option(help="The rate-limit window, e.g. 90s or 1m (default 1m).")
    ] = "",
) -> None:
    """Create an ingest key; prints it once."""
    window_seconds = whole_seconds("--window", window) if window else 0
    with api(ctx) as client:
        got = client.call(
            client.stub.CreateIngestKey,
            streams_pb2.CreateIngestKeyRequest(
                parent=client.stream(stream),
                ingest_key=streams_pb2.IngestKey(
                    mode=MODES["test" if test else "live"],
                    display_name=name,
                    rate_limit=rate_limit,
                    rate_window_seconds=window_seconds,
                ),
            ),
        )
    _show_secret(ctx, got.ingest_key, got.secret)


@keys.command("list")
def keys_list(ctx: typer.Context, stream: str) -> None:
    """List a stream's keys (never their secrets)."""
    with api(ctx) as client:
        found = client.every(
            client.stub.ListIngestKeys,
            streams_pb2.ListIngestKeysRequest(parent=client.stream(stream)),
            "ingest_keys",
        )
    _show_keys(ctx, found)


@keys.command("revoke")
def keys_revoke(ctx: typer.Context, stream: str, key_id: str) -> None:
    """Revoke a key at once."""
    with api(ctx) as client:
        got = client.call(
            client.stub.RevokeIngestKey,
            streams_pb2.RevokeIngestKeyRequest(name=client.key(stream, key_id)),
        )
    _show_keys(ctx, [got.ingest_key])


@keys.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    stream: str,
    key_id: str,
    grace: Annotated[
        str,
        typer.Option(help="Keep the old key working this long, e.g. 10m (default: not at all)."),
    ] = "",
) -> None:
    """Replace a key; prints the new one once."""
    grace_seconds = whole_seconds("--grace", grace, minimum=0) if grace else 0
    with api(ctx) as client:
        got = client.call(
            client.stub.RotateIngestKey,
            streams_pb2.RotateIngestKeyRequest(
                name=client.key(stream, key_id), grace_seconds=grace_seconds
            ),
        )
    _show_secret(ctx, got.ingest_key, got.secret)


def _update_key(ctx: typer.Context, stream: str, key_id: str, **values: Any) -> None:
    """Change exactly the given fields of a key (the mask names them and no others)."""
    with api(ctx) as client:
        got = client.call(
            client.stub.UpdateIngestKey,
            streams_pb2.UpdateIngestKeyRequest(
                ingest_key=streams_pb2.IngestKey(name=client.key(stream, key_id), **values),
                update_mask=field_mask_pb2.FieldMask(paths=list(values)),
            ),
        )
    _show_keys(ctx, [got.ingest_key])


@keys.command("update")
def keys_update(
    ctx: typer.Context,
    stream: str,
    key_id: str,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="Requests allowed per window.")] = None,
    rate_window: Annotated[
        str | None,
        typer.Option(help="The rate-limit window: seconds, or a duration such as 90s or 1m."),
    ] = None,
) -> None:
    """Change a key's display name or rate limit; what is not given stays."""
    values = name_and_rate_changes(name, rate_limit, rate_window)
    _update_key(ctx, stream, key_id, **values)


@keys.command("set-rate-limit")
def keys_set_rate_limit(
    ctx: typer.Context,
    stream: str,
    key_id: str,
    limit: Annotated[int, typer.Option(help="Requests per window.")],
    window: Annotated[
        str | None, typer.Option(help="The window, e.g. 90s or 1m (unchanged when not given).")
    ] = None,
) -> None:
    """Change a key's rate limit (the window too, when given)."""
    values = {"rate_limit": rate_limit_option(limit, "--limit")}
    if window is not None:
        values["rate_window_seconds"] = whole_seconds("--window", window)
    _update_key(ctx, stream, key_id, **values)
