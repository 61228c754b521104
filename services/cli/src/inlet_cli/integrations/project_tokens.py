"""`inlet project-tokens …`: the external API's server tokens (pat_…) and their log."""

from __future__ import annotations

from typing import Annotated

import typer

from inlet.admin.v1 import integrations_pb2
from inlet_cli import render
from inlet_cli.client import duration, json_mode, output_mode
from inlet_cli.integrations.activity import show_activity
from inlet_cli.integrations.api import all_project_tokens, api
from inlet_cli.integrations.shown import show_token_secret, token_state, when

app = typer.Typer(
    help="Project access tokens (pat_…): the external API's server tokens.", no_args_is_help=True
)


def _show_project_tokens(ctx: typer.Context, found: list[integrations_pb2.ProjectToken]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(t) for t in found])
        return
    render.table(
        None,
        ["id", "name", "state", "created (UTC)"],
        [
            [
                t.name.rsplit("/", 1)[-1],
                t.display_name,
                token_state(t.revoke_time, t.expire_time),
                when(t.create_time),
            ]
            for t in found
        ],
        mode=output_mode(ctx),
    )


@app.command("create")
def project_tokens_create(
    ctx: typer.Context, name: Annotated[str, typer.Option(help="Display name.")] = ""
) -> None:
    """Create a project token; prints it once."""
    with api(ctx) as client:
        made = client.call(
            client.stub.CreateProjectToken,
            integrations_pb2.CreateProjectTokenRequest(
                parent=client.workspace,
                project_token=integrations_pb2.ProjectToken(display_name=name),
            ),
        )
    show_token_secret(ctx, "project_token", made.project_token, made.secret)


@app.command("list")
def project_tokens_list(ctx: typer.Context) -> None:
    """List project tokens, newest first (never their secrets)."""
    with api(ctx) as client:
        found = all_project_tokens(client)
    _show_project_tokens(ctx, found)


@app.command("revoke")
def project_tokens_revoke(ctx: typer.Context, token_id: str) -> None:
    """Revoke a project token at once."""
    with api(ctx) as client:
        got = client.call(
            client.stub.RevokeProjectToken,
            integrations_pb2.RevokeProjectTokenRequest(name=client.project_token(token_id)),
        )
    _show_project_tokens(ctx, [got.project_token])


@app.command("rotate")
def project_tokens_rotate(
    ctx: typer.Context,
    token_id: str,
    grace: Annotated[
        str,
        typer.Option(help="Keep the old token working this long, e.g. 10m (default: not at all)."),
    ] = "",
) -> None:
    """Replace a project token; prints the new one once."""
    request = integrations_pb2.RotateProjectTokenRequest()
    if grace:
        request.grace_period.CopyFrom(duration("--grace", grace))
    with api(ctx) as client:
        request.name = client.project_token(token_id)
        got = client.call(client.stub.RotateProjectToken, request)
    show_token_secret(ctx, "project_token", got.project_token, got.secret)


@app.command("log")
def project_tokens_log(
    ctx: typer.Context,
    token_id: str,
    limit: Annotated[int, typer.Option(help="Newest N entries.")] = 50,
) -> None:
    """Every request made with the token: data ingestion, status lookups, pings."""
    with api(ctx) as client:
        parent = client.project_token(token_id)
    show_activity(ctx, parent, limit)


# -- client tokens ----------------------------------------------------------------------------
