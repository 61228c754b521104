"""`inlet client-tokens …`: the external form's client tokens (pct_…), bound to origins."""

from __future__ import annotations

from typing import Annotated, Any

import typer
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
from inlet_cli.integrations.api import all_client_tokens, api
from inlet_cli.integrations.shown import rate, show_token_secret, token_state

app = typer.Typer(
    help="Client tokens (pct_…) of the external form, bound to origins.", no_args_is_help=True
)


def _show_client_tokens(ctx: typer.Context, found: list[integrations_pb2.ClientToken]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(t) for t in found])
        return
    render.table(
        None,
        ["id", "entity type", "origins", "rate limit", "state"],
        [
            [
                t.name.rsplit("/", 1)[-1],
                t.entity_type,
                ", ".join(t.allowed_origins),
                rate(t.rate_limit, t.rate_window_seconds),
                token_state(t.revoke_time),
            ]
            for t in found
        ],
        mode=output_mode(ctx),
    )


@app.command("create")
def client_tokens_create(
    ctx: typer.Context,
    entity_type: Annotated[
        str, typer.Option("--entity-type", "-t", help="Type forms create (needs a unique email).")
    ],
    origin: Annotated[
        list[str],
        typer.Option(
            help="An origin whose pages use the form, e.g. https://www.example.com (or *)."
        ),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    region: Annotated[str, typer.Option(help="Default phone region (ISO 3166).")] = "",
    rate_limit: Annotated[
        int | None, typer.Option(help="Forms per window (default 60).", show_default=False)
    ] = None,
    rate_window: Annotated[str, typer.Option(help="The window, e.g. 1m (default 1m).")] = "",
) -> None:
    """Create a client token; prints it once."""
    with api(ctx) as client:
        made = client.call(
            client.stub.CreateClientToken,
            integrations_pb2.CreateClientTokenRequest(
                parent=client.workspace,
                client_token=integrations_pb2.ClientToken(
                    entity_type=entity_type,
                    allowed_origins=origin,
                    display_name=name,
                    default_region=region,
                    rate_limit=rate_limit_option(rate_limit) if rate_limit is not None else 0,
                    rate_window_seconds=(
                        whole_seconds("--rate-window", rate_window) if rate_window else 0
                    ),
                ),
            ),
        )
    show_token_secret(ctx, "client_token", made.client_token, made.secret)


@app.command("list")
def client_tokens_list(ctx: typer.Context) -> None:
    """List client tokens, newest first (never their secrets)."""
    with api(ctx) as client:
        found = all_client_tokens(client)
    _show_client_tokens(ctx, found)


@app.command("update")
def client_tokens_update(
    ctx: typer.Context,
    token_id: str,
    origin: Annotated[
        list[str] | None, typer.Option(help="The allowed origins (all of them; repeat).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="Forms per window.")] = None,
    rate_window: Annotated[str | None, typer.Option(help="The window, e.g. 1m.")] = None,
) -> None:
    """Change a client token's origins, name or rate limit; what is not given stays."""
    values: dict[str, Any] = {}
    if origin:
        values["allowed_origins"] = origin
    if name is not None:
        values["display_name"] = name
    if rate_limit is not None:
        values["rate_limit"] = rate_limit_option(rate_limit)
    if rate_window is not None:
        values["rate_window_seconds"] = whole_seconds("--rate-window", rate_window)
    if not values:
        raise usage_error("nothing to change: pass --origin, --name, --rate-limit or --rate-window")
    with api(ctx) as client:
        got = client.call(
            client.stub.UpdateClientToken,
            integrations_pb2.UpdateClientTokenRequest(
                client_token=integrations_pb2.ClientToken(
                    name=client.client_token(token_id), **values
                ),
                update_mask=field_mask_pb2.FieldMask(paths=list(values)),
            ),
        )
    _show_client_tokens(ctx, [got.client_token])


@app.command("revoke")
def client_tokens_revoke(ctx: typer.Context, token_id: str) -> None:
    """Revoke a client token at once."""
    with api(ctx) as client:
        got = client.call(
            client.stub.RevokeClientToken,
            integrations_pb2.RevokeClientTokenRequest(name=client.client_token(token_id)),
        )
    _show_client_tokens(ctx, [got.client_token])


@app.command("log")
def client_tokens_log(
    ctx: typer.Context,
    token_id: str,
    limit: Annotated[int, typer.Option(help="Newest N entries.")] = 50,
) -> None:
    """Every form submitted with the token, whatever its outcome."""
    with api(ctx) as client:
        parent = client.client_token(token_id)
    show_activity(ctx, parent, limit)
