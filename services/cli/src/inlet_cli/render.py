"""Output: rich tables for people, JSON for scripts, one-line errors on stderr."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from google.protobuf import message
from rich.console import Console
from rich.table import Table

from inlet_common import exactjson, protojson

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def as_dict(msg: message.Message) -> dict[str, Any]:
    # RawJson fields come out as their values, numbers exactly as stored.
    result: dict[str, Any] = protojson.to_json(msg, parsed=True)
    return result


def emit_json(value: Any) -> None:
    sys.stdout.write(exactjson.dumps(value, indent=True).decode() + "\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    shown = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*("" if v is None else str(v) for v in row))
    out.print(shown)


def short(name: str) -> str:
    """The last segment of a resource name: workspaces/w/streams/sales → sales."""
    return name.rsplit("/", 1)[-1]


def fields_line(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={exactjson.dumps(v).decode()}" for k, v in values.items())


def error(message: str, details: Sequence[str] = ()) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    for line in details:
        err.print(f"  {line}", markup=False)
