"""The activity log of integration ingest: every request that named a valid token, in short."""

from __future__ import annotations

from typing import Any

import typer

from inlet.admin.v1 import integrations_pb2
from inlet_cli import render
from inlet_cli.client import json_mode, output_mode
from inlet_cli.integrations.api import api
from inlet_cli.integrations.shown import when
from inlet_cli.render import Column

_ROUTES = {"data_ingestion": "ingest", "status": "status", "ping": "ping", "form": "form"}


def _outcome(shown: dict[str, Any]) -> str:
    """What happened, in a few words: items and failures, the record, the first errors."""
    parts: list[str] = []
    result = shown.get("result") or {}
    received = shown.get("items_received", 0)
    if shown.get("route") == "data_ingestion" and received:
        failed = shown.get("items_failed", 0)
        counted = f"{received} item{'s' if received != 1 else ''}"
        parts.append(counted + (f", {failed} failed" if failed else ""))
    if shown.get("route") == "status" and "request_id" in result:
        parts.append(f"of {result['request_id']}")
    if "record" in result:
        parts.append(f"record {result['record'].get('action')} {result['record'].get('id')}")
    errors = shown.get("errors", [])
    for error in errors[:2]:
        fields = ", ".join(f"{f['field']} {f['code']}" for f in error.get("fields", [])[:2])
        if "index" in error:
            # An item's error: its bad fields name the item already.
            parts.append(fields or f"items[{error['index']}] {error.get('code')}")
        else:
            parts.append(f"{error.get('code')}" + (f": {fields}" if fields else ""))
    if len(errors) > 2:
        parts.append(f"and {len(errors) - 2} more")
    if shown.get("replay_of"):
        parts.append(f"replay of {shown['replay_of']}")
    return "; ".join(parts)


def _show_log(ctx: typer.Context, entries: list[integrations_pb2.ExternalActivityEntry]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(e) for e in entries])
        return
    mode = output_mode(ctx)
    columns: list[str | Column] = [
        "time (UTC)",
        Column("request id", id_=True),
        "route",
        "status",
        "outcome",
    ]
    rows: list[list[Any]] = [
        [
            when(e.create_time),
            e.request_id,
            _ROUTES.get(e.route, e.route),
            f"{e.status_code} {e.status}",
            _outcome(render.as_dict(e)),
        ]
        for e in entries
    ]
    if mode == render.WIDE:
        columns += ["integration", "token", "client request id"]
        for row, e in zip(rows, entries, strict=True):
            row += [e.integration, e.token, e.client_request_id]
    render.table(None, columns, rows, mode=mode)


def show_activity(ctx: typer.Context, parent: str, limit: int) -> None:
    with api(ctx) as client:
        got = client.call(
            client.stub.ListExternalActivityEntries,
            integrations_pb2.ListExternalActivityEntriesRequest(parent=parent, page_size=limit),
        )
    _show_log(ctx, list(got.external_activity_entries))
