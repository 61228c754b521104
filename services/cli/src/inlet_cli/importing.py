"""`inlet import FILE`: push every row of a CSV or NDJSON file through an ingest endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from inlet.admin.v1 import admin_pb2
from inlet.type.v1 import entity_pb2
from inlet_cli import importer, render
from inlet_cli.client import (
    EXIT_FAILED,
    json_mode,
    output_mode,
    usage_error,
)
from inlet_cli.options import (
    TYPE_LABELS,
    admin_api,
    ingest_url,
)

# -- import ---------------------------------------------------------------------------------


def _field_types(ctx: typer.Context, entity_type: str) -> dict[str, str]:
    """body path → field type, for turning CSV text into typed JSON values."""
    with admin_api(ctx) as api:
        fetched: dict[str, entity_pb2.EntityType] = {}

        def get(slug: str) -> entity_pb2.EntityType:
            # Several fields may reference the same type: fetch each type once.
            if slug not in fetched:
                fetched[slug] = api.call(
                    api.stub.GetEntityType,
                    admin_pb2.GetEntityTypeRequest(name=f"{api.workspace}/entityTypes/{slug}"),
                ).entity_type
            return fetched[slug]

        types: dict[str, str] = {}
        for f in get(entity_type).fields:
            types[f"fields.{f.slug}"] = TYPE_LABELS.get(f.type, "text")
            if f.reference_entity_type:
                for g in get(f.reference_entity_type).fields:
                    types[f"related.{f.slug}.{g.slug}"] = TYPE_LABELS.get(g.type, "text")
    return types


def import_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or NDJSON.")],
    endpoint: Annotated[
        str,
        typer.Option(envvar="INLET_ENDPOINT_URL", help="The endpoint's URL (or its iep_ token)."),
    ] = "",
    entity_type: Annotated[
        str, typer.Option(help="Type the CSV columns by this entity type (needs admin access).")
    ] = "",
    failed: Annotated[
        Path | None, typer.Option(help="Where failed rows go (default FILE.failed.<ext>).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Requests in flight.")] = 16,
) -> None:
    """Push every row of FILE through an ingest endpoint; failed rows go to a file to fix."""
    target = endpoint
    if not target:
        raise usage_error("no endpoint: pass --endpoint URL (or set INLET_ENDPOINT_URL)")
    if not target.startswith(("http://", "https://")):
        target = ingest_url(ctx, f"/api/v1/ingest/{target}")
    types = _field_types(ctx, entity_type) if entity_type else {}
    try:
        rows, fmt, header = importer.read_rows(file, types)
    except (OSError, UnicodeDecodeError) as error:
        raise usage_error(f"cannot read {file}: {error}") from None
    quiet = json_mode(ctx)
    with Progress(
        TextColumn("importing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        render.TimeLeft(),
        console=render.err,
        disable=quiet,
    ) as progress:
        task = progress.add_task(file.name, total=len(rows))
        advance: Callable[[], None] = lambda: progress.advance(task)  # noqa: E731
        summary = asyncio.run(
            importer.push_all(target, rows, concurrency=concurrency, on_done=advance)
        )
    failed_path = failed or file.with_name(f"{file.stem}.failed{file.suffix or '.csv'}")
    if summary.failed:
        importer.write_failed(failed_path, fmt, header, summary)
    result = {
        "rows": summary.total,
        "created": summary.created,
        "updated": summary.updated,
        "failed": len(summary.failed),
        "failed_file": str(failed_path) if summary.failed else None,
    }
    if quiet:
        render.emit_json(result)
    else:
        render.table(
            None,
            ["rows", "created", "updated", "failed"],
            [[summary.total, summary.created, summary.updated, len(summary.failed)]],
            mode=output_mode(ctx),
        )
        for row, problem in summary.failed[:5]:
            render.out.print(f"  row {row.number}: {problem}")
        if len(summary.failed) > 5:
            render.out.print(f"  … and {len(summary.failed) - 5} more")
        if summary.failed:
            render.out.print(f"failed rows written to {failed_path}: fix them and import it again")
    if summary.failed:
        raise typer.Exit(EXIT_FAILED)
