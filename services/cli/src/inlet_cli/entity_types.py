"""`inlet entity-types …` and `inlet fields …`: entity types, their fields and flags."""

from __future__ import annotations

from typing import Annotated

import typer
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import admin_pb2
from inlet.type.v1 import entity_pb2
from inlet_cli import render
from inlet_cli.client import (
    json_mode,
    output_mode,
    usage_error,
)
from inlet_cli.options import (
    TYPE_LABELS,
    TYPE_NAMES,
    admin_api,
)

entity_types = typer.Typer(help="Entity types: the shapes records take.", no_args_is_help=True)
fields = typer.Typer(help="Fields of an entity type and their flags.", no_args_is_help=True)


# -- entity types ---------------------------------------------------------------------------


def _parse_field(spec: str) -> entity_pb2.Field:
    """slug:type[:unique][:required][:ref=<type>] → a Field."""
    slug, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else ["text"]
    kind = parts[0] or "text"
    if kind not in TYPE_NAMES:
        raise usage_error(f"--field {spec!r}: type must be one of {', '.join(TYPE_NAMES)}")
    f = entity_pb2.Field(slug=slug, display_name=slug, type=TYPE_NAMES[kind])
    for flag in parts[1:]:
        if flag == "unique":
            f.unique = True
        elif flag == "required":
            f.required = True
        elif flag.startswith("ref="):
            f.reference_entity_type = flag[4:]
        else:
            raise usage_error(f"--field {spec!r}: unknown flag {flag!r} (unique, required, ref=)")
    return f


def _show_type(ctx: typer.Context, t: entity_pb2.EntityType) -> None:
    if json_mode(ctx):
        render.emit_json(render.as_dict(t))
        return
    mode = output_mode(ctx)
    named = t.name if mode == render.WIDE else f"id {render.short_id(t.id)}"
    render.table(
        f"{t.slug} ({t.display_name}) — {named}",
        ["field", "type", "unique", "required", "references"],
        [
            [
                f.slug,
                TYPE_LABELS.get(f.type, "?"),
                "yes" if f.unique else "",
                "yes" if f.required else "",
                f.reference_entity_type,
            ]
            for f in t.fields
        ],
        mode=mode,
    )


@entity_types.command("list")
def entity_types_list(ctx: typer.Context) -> None:
    """List entity types."""
    with admin_api(ctx) as api:
        found = api.every(
            api.stub.ListEntityTypes,
            admin_pb2.ListEntityTypesRequest(parent=api.workspace),
            "entity_types",
        )
    if json_mode(ctx):
        render.emit_json([render.as_dict(t) for t in found])
        return
    render.table(
        None,
        ["slug", "name", "fields", "unique"],
        [
            [
                t.slug,
                t.display_name,
                len(t.fields),
                ", ".join(f.slug for f in t.fields if f.unique),
            ]
            for t in found
        ],
        mode=output_mode(ctx),
    )


@entity_types.command("show")
def entity_types_show(ctx: typer.Context, slug: str) -> None:
    """Show an entity type and its fields."""
    with admin_api(ctx) as api:
        got = api.call(
            api.stub.GetEntityType,
            admin_pb2.GetEntityTypeRequest(name=f"{api.workspace}/entityTypes/{slug}"),
        )
    _show_type(ctx, got.entity_type)


@entity_types.command("create")
def entity_types_create(
    ctx: typer.Context,
    slug: str,
    field: Annotated[
        list[str],
        typer.Option(
            "--field",
            "-f",
            help="slug:type[:unique][:required][:ref=<type>], e.g. email:email:unique",
        ),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create an entity type with its fields."""
    specs = [_parse_field(spec) for spec in field]
    with admin_api(ctx) as api:
        made = api.call(
            api.stub.CreateEntityType,
            admin_pb2.CreateEntityTypeRequest(
                parent=api.workspace,
                entity_type=entity_pb2.EntityType(slug=slug, display_name=name, fields=specs),
            ),
        )
    _show_type(ctx, made.entity_type)


@entity_types.command("delete")
def entity_types_delete(ctx: typer.Context, slug: str) -> None:
    """Delete an entity type that has no records and no endpoints."""
    with admin_api(ctx) as api:
        api.call(
            api.stub.DeleteEntityType,
            admin_pb2.DeleteEntityTypeRequest(name=f"{api.workspace}/entityTypes/{slug}"),
        )
    if json_mode(ctx):
        render.emit_json({"deleted": slug})
    else:
        render.out.print(f"deleted entity type {slug}")


# -- fields ---------------------------------------------------------------------------------


@fields.command("add")
def fields_add(
    ctx: typer.Context,
    entity_type: str,
    slug: str,
    type_: Annotated[str, typer.Option("--type", help=", ".join(TYPE_NAMES))] = "text",
    unique: Annotated[bool, typer.Option(help="Match records on this field.")] = False,
    reference: Annotated[str, typer.Option(help="Referenced type (type reference).")] = "",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Add a field to an entity type."""
    if type_ not in TYPE_NAMES:
        raise usage_error(f"--type must be one of {', '.join(TYPE_NAMES)}, got {type_!r}")
    with admin_api(ctx) as api:
        changed = api.call(
            api.stub.CreateField,
            admin_pb2.CreateFieldRequest(
                parent=f"{api.workspace}/entityTypes/{entity_type}",
                field=entity_pb2.Field(
                    slug=slug,
                    display_name=name or slug,
                    type=TYPE_NAMES[type_],
                    unique=unique,
                    reference_entity_type=reference,
                ),
            ),
        )
    _show_type(ctx, changed.entity_type)


@fields.command("set")
def fields_set(
    ctx: typer.Context,
    entity_type: str,
    slug: str,
    unique: Annotated[bool | None, typer.Option("--unique/--no-unique")] = None,
    required: Annotated[bool | None, typer.Option("--required/--no-required")] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Change a field's flags. Turning unique on refuses while values are duplicated."""
    mask = [
        path
        for path, value in (("unique", unique), ("required", required), ("display_name", name))
        if value is not None
    ]
    if not mask:
        raise usage_error("nothing to change: pass --unique/--no-unique, --required, or --name")
    with admin_api(ctx) as api:
        changed = api.call(
            api.stub.UpdateField,
            admin_pb2.UpdateFieldRequest(
                field=admin_pb2.FieldResource(
                    name=f"{api.workspace}/entityTypes/{entity_type}/fields/{slug}",
                    field=entity_pb2.Field(
                        display_name=name or "", unique=bool(unique), required=bool(required)
                    ),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=mask),
            ),
        )
    if not json_mode(ctx) and changed.backfilled_keys:
        render.out.print(f"indexed {changed.backfilled_keys} existing values of {slug}")
    _show_type(ctx, changed.entity_type)


@fields.command("remove")
def fields_remove(ctx: typer.Context, entity_type: str, slug: str) -> None:
    """Remove a field and its values from every record."""
    with admin_api(ctx) as api:
        changed = api.call(
            api.stub.DeleteField,
            admin_pb2.DeleteFieldRequest(
                name=f"{api.workspace}/entityTypes/{entity_type}/fields/{slug}"
            ),
        )
    _show_type(ctx, changed.entity_type)
