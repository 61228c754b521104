"""`inlet streams read-keys …`: a stream's read keys (rk_…), the read-only credential of
its items and live feed: create (shown once), list, revoke."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer

from inlet.admin.v1 import streams_pb2, streams_pb2_grpc
from inlet_cli import render
from inlet_cli.client import (
    Client,
    Settings,
    every_page,
    json_mode,
    opened,
    output_mode,
    show_secret,
)
from inlet_cli.render import Column

app = typer.Typer(
    help="Read keys (rk_…) of a stream: its items and live feed, read-only.",
    no_args_is_help=True,
)


class Api(Client[streams_pb2_grpc.StreamAdminServiceStub]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, streams_pb2_grpc.StreamAdminServiceStub)

    def stream(self, slug: str) -> str:
        return f"{self.workspace}/streams/{slug}"


def api(ctx: typer.Context) -> contextlib.AbstractContextManager[Api]:
    return opened(ctx.obj, Api)


def _when(stamp: Any) -> str:
    return stamp.ToDatetime().isoformat(timespec="seconds") + "Z" if stamp.seconds else ""


def _show(ctx: typer.Context, found: list[streams_pb2.ReadKey]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(k) for k in found])
        return
    render.table(
        None,
        [Column("id", id_=True), "name", "state", "created"],
        [
            [
                render.short(k.name),
                k.display_name,
                "revoked" if k.HasField("revoke_time") else "active",
                _when(k.create_time),
            ]
            for k in found
        ],
        mode=output_mode(ctx),
    )


@app.command("create")
def create(
    ctx: typer.Context,
    stream: str,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create a read key; prints it once."""
    with api(ctx) as client:
        got = client.call(
            client.stub.CreateReadKey,
            streams_pb2.CreateReadKeyRequest(
                parent=client.stream(stream), read_key=streams_pb2.ReadKey(display_name=name)
            ),
        )
    headline = f"read key {render.short(got.read_key.name)} (stream {stream})"
    show_secret(ctx, "read_key", got.read_key, headline, got.secret, "key")


@app.command("list")
def list_(ctx: typer.Context, stream: str) -> None:
    """List a stream's read keys (never their secrets)."""
    with api(ctx) as client:
        found = [
            item
            for page in every_page(
                lambda token: client.call(
                    client.stub.ListReadKeys,
                    streams_pb2.ListReadKeysRequest(parent=client.stream(stream), page_token=token),
                )
            )
            for item in page.read_keys
        ]
    _show(ctx, found)


@app.command("revoke")
def revoke(ctx: typer.Context, stream: str, key_id: str) -> None:
    """Revoke a read key at once (open feeds end within a heartbeat)."""
    with api(ctx) as client:
        got = client.call(
            client.stub.RevokeReadKey,
            streams_pb2.RevokeReadKeyRequest(name=f"{client.stream(stream)}/readKeys/{key_id}"),
        )
    _show(ctx, [got.read_key])
