"""`inlet records …`: get, list and find stored records."""

from __future__ import annotations

from typing import Annotated

import typer

from inlet.admin.v1 import admin_pb2
from inlet_cli import render
from inlet_cli.client import (
    Admin,
    every_page,
    is_full_id,
    json_mode,
    output_mode,
    resolve_id,
)
from inlet_cli.options import (
    admin_api,
)
from inlet_cli.render import Column

records = typer.Typer(help="Stored records.", no_args_is_help=True)


# -- records --------------------------------------------------------------------------------


def _show_records(ctx: typer.Context, found: list[admin_pb2.Record], more: str = "") -> None:
    if json_mode(ctx):
        dicts = [render.as_dict(r) for r in found]
        render.emit_json(
            dicts[0] if len(dicts) == 1 and not more and ctx.command.name != "list" else dicts
        )
        return
    render.table(
        None,
        [Column("id", id_=True), "values", "updated (UTC)"],
        [
            [
                r.id,
                render.fields_line(render.as_dict(r).get("values", {})),
                r.update_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
            ]
            for r in found
        ],
        mode=output_mode(ctx),
    )
    if more:
        render.out.print(f"more: --page-token {more}")


@records.command("get")
def records_get(ctx: typer.Context, entity_type: str, record_id: str) -> None:
    """A record by id (or the start of it, as tables show it)."""
    with admin_api(ctx) as api:
        if not is_full_id(record_id):
            record_id = resolve_id(
                record_id,
                _recent_record_ids(api, entity_type),
                f"{entity_type} record",
                "RECORD_NOT_FOUND",
            )
        got = api.call(
            api.stub.GetRecord,
            admin_pb2.GetRecordRequest(
                name=f"{api.workspace}/entityTypes/{entity_type}/records/{record_id}"
            ),
        )
    _show_records(ctx, [got.record])


# A short id is looked up among this many of the newest records; past them, give it whole.
_SHORT_ID_SCAN = 5000


def _recent_record_ids(api: Admin, entity_type: str) -> list[str]:
    ids: list[str] = []
    for page in every_page(
        lambda token: api.call(
            api.stub.ListRecords,
            admin_pb2.ListRecordsRequest(
                parent=f"{api.workspace}/entityTypes/{entity_type}",
                page_size=500,
                page_token=token,
            ),
        )
    ):
        ids.extend(r.id for r in page.records)
        if len(ids) >= _SHORT_ID_SCAN:
            break
    return ids


@records.command("list")
def records_list(
    ctx: typer.Context,
    entity_type: str,
    limit: Annotated[int, typer.Option(help="Records per page (at most 500).")] = 20,
    page_token: Annotated[str, typer.Option(help="Next page, from a previous call.")] = "",
) -> None:
    """An entity type's records, newest first."""
    with admin_api(ctx) as api:
        page = api.call(
            api.stub.ListRecords,
            admin_pb2.ListRecordsRequest(
                parent=f"{api.workspace}/entityTypes/{entity_type}",
                page_size=limit,
                page_token=page_token,
            ),
        )
    _show_records(ctx, list(page.records), page.next_page_token)


@records.command("find")
def records_find(
    ctx: typer.Context,
    entity_type: str,
    field: str,
    value: str,
    region: Annotated[
        str, typer.Option(help="Region (e.g. NO) of a phone number without +<country code>.")
    ] = "",
) -> None:
    """The record whose unique FIELD has VALUE (normalised as ingest does)."""
    with admin_api(ctx) as api:
        got = api.call(
            api.stub.LookupRecord,
            admin_pb2.LookupRecordRequest(
                parent=f"{api.workspace}/entityTypes/{entity_type}",
                field=field,
                value=value,
                default_region=region,
            ),
        )
    _show_records(ctx, [got.record])
