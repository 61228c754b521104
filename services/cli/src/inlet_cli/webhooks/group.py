"""The `inlet webhooks` group: its notifier option and its commands, endpoints then deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from inlet_cli.webhooks import deliveries, endpoints

app = typer.Typer(
    help="Webhooks: signed deliveries of record.created, record.updated, ingest.failed …",
    no_args_is_help=True,
)
app.add_typer(endpoints.app)
app.add_typer(deliveries.app)


@app.callback()
def root(
    ctx: typer.Context,
    notifier_url: Annotated[
        str,
        typer.Option(envvar="INLET_NOTIFIER_URL", help="Webhook API (the notifier), host:port."),
    ] = "127.0.0.1:50053",
) -> None:
    ctx.meta["notifier_url"] = notifier_url
