"""The `inlet` command's global options (ctx.obj) and the admin client they open."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import typer

from inlet.type.v1 import entity_pb2
from inlet_cli.client import (
    Admin,
    opened,
)

TYPE_NAMES = {
    "text": entity_pb2.FIELD_TYPE_TEXT,
    "email": entity_pb2.FIELD_TYPE_EMAIL,
    "phone": entity_pb2.FIELD_TYPE_PHONE,
    "number": entity_pb2.FIELD_TYPE_NUMBER,
    "integer": entity_pb2.FIELD_TYPE_INTEGER,
    "boolean": entity_pb2.FIELD_TYPE_BOOLEAN,
    "datetime": entity_pb2.FIELD_TYPE_DATETIME,
    "reference": entity_pb2.FIELD_TYPE_REFERENCE,
}
TYPE_LABELS = {value: name for name, value in TYPE_NAMES.items()}


@dataclass
class Options:
    admin_url: str | None
    admin_token: str | None
    workspace: str | None
    ingest_url: str
    output: str  # render.TABLE, WIDE or JSON


def admin_api(ctx: typer.Context) -> contextlib.AbstractContextManager[Admin]:
    """The admin client, with every CliError printed in one line and its exit code."""
    return opened(ctx.obj, Admin)


def ingest_url(ctx: typer.Context, path: str) -> str:
    """`path` on the HTTP edge (INLET_INGEST_URL), for printed URLs."""
    options: Options = ctx.obj
    return options.ingest_url.rstrip("/") + path
