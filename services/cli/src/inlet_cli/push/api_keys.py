"""`inlet api-keys …`: push transfer's workspace API keys (ak_…)."""

from __future__ import annotations

from typing import Annotated

import typer

from inlet.admin.v1 import push_pb2
from inlet_cli import render
from inlet_cli.client import (
    json_mode,
    output_mode,
    rate_limit_option,
    show_secret,
    whole_seconds,
)
from inlet_cli.push.api import api, when
from inlet_common.durations import format_duration

app = typer.Typer(
    help="Workspace API keys (ak_…) for push transfer (POST /api/push/transfer).",
    no_args_is_help=True,
)


def _key_state(k: push_pb2.ApiKey) -> str:
    if k.HasField("revoke_time"):
        return "revoked"
    if k.HasField("expire_time"):
        return f"expires {when(k.expire_time)}"
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
                when(k.create_time),
            ]
            for k in found
        ],
        mode=output_mode(ctx),
    )


def _show_secret(ctx: typer.Context, key: push_pb2.ApiKey, secret: str) -> None:
    show_secret(ctx, "api_key", key, f"API key {key.prefix}", secret, "key")


@app.command("create")
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


@app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List the workspace's API keys (never their secrets)."""
    with api(ctx) as client:
        found = client.every(
            client.stub.ListApiKeys,
            push_pb2.ListApiKeysRequest(parent=client.workspace),
            "api_keys",
        )
    _show_keys(ctx, found)


@app.command("revoke")
def keys_revoke(ctx: typer.Context, key: Annotated[str, typer.Argument(help="ak_<id>.")]) -> None:
    """Revoke a key at once."""
    with api(ctx) as client:
        got = client.call(
            client.stub.RevokeApiKey, push_pb2.RevokeApiKeyRequest(name=client.key(key))
        )
    _show_keys(ctx, [got.api_key])


@app.command("rotate")
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
