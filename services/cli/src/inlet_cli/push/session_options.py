"""The `inlet sessions` options as PushAdminService messages: types, field maps, webhooks."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from inlet.admin.v1 import push_pb2
from inlet_cli.client import usage_error
from inlet_common import exactjson


def type_specs(types: list[str], maps: list[str]) -> list[push_pb2.SessionType]:
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


def webhook_spec(url: str | None, metadata: dict[str, Any] | None) -> push_pb2.PushWebhook | None:
    if url is None:
        return None
    hook = push_pb2.PushWebhook(endpoint=url)
    if metadata is not None:
        hook.metadata.json = exactjson.dumps(metadata).decode()
    return hook


def metadata_option(text: str | None) -> dict[str, Any] | None:
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
