"""The `inlet` command: its global options and every command group."""

from __future__ import annotations

from typing import Annotated

import typer

from inlet_cli import (
    endpoints,
    entity_types,
    importing,
    records,
    render,
    streams,
)
from inlet_cli.integrations import client_tokens, integrations, project_tokens
from inlet_cli.options import Options
from inlet_cli.push import api_keys, sessions
from inlet_cli.webhooks import group as webhooks

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
app.add_typer(entity_types.entity_types, name="entity-types")
app.add_typer(entity_types.fields, name="fields")
app.add_typer(endpoints.endpoints, name="endpoints")
app.add_typer(records.records, name="records")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(streams.app, name="streams")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(sessions.app, name="sessions")
app.add_typer(integrations.app, name="integrations")
app.add_typer(project_tokens.app, name="project-tokens")
app.add_typer(client_tokens.app, name="client-tokens")


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


app.command("import")(importing.import_file)
