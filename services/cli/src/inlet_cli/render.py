"""Output: rich tables for people (80 columns: short ids; `--wide`: full ones), JSON for
scripts, one-line errors on stderr."""

from __future__ import annotations

import enum
import re
import sys
from collections.abc import Sequence
from typing import Any

from google.protobuf import message
from rich.console import Console
from rich.progress import ProgressColumn, Task
from rich.table import Table
from rich.text import Text

from inlet_common import exactjson, protojson
from inlet_common.durations import format_duration

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Output modes (-o): table (short ids, fits 80 columns), wide (full ids), json.
TABLE, WIDE, JSON = "table", "wide", "json"


class Output(enum.StrEnum):
    TABLE = TABLE
    WIDE = WIDE
    JSON = JSON


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PREFIXED = re.compile(r"\b(req|msg|evt)_([0-9A-Za-z]{12,})\b")
SHORT = 8  # characters of an id kept in tables, as git and docker show them
_UNBOUNDED = 100_000


def as_dict(msg: message.Message) -> dict[str, Any]:
    # RawJson fields come out as their values, numbers exactly as stored.
    result: dict[str, Any] = protojson.to_json(msg, parsed=True)
    return result


def emit_json(value: Any) -> None:
    sys.stdout.write(exactjson.dumps(value, indent=True).decode() + "\n")


def short_id(value: str) -> str:
    """An id as tables show it: a uuid's first 8 characters, req_/msg_ ids likewise."""
    if UUID.fullmatch(value):
        return value[:SHORT]
    found = _PREFIXED.fullmatch(value)
    return f"{found[1]}_{found[2][:SHORT]}" if found else value


def shorten_ids(text: str) -> str:
    """Every uuid or req_/msg_ id inside free text, shortened."""
    text = UUID.sub(lambda m: m[0][:SHORT], text)
    return _PREFIXED.sub(lambda m: f"{m[1]}_{m[2][:SHORT]}", text)


class Column:
    """A table column; an id column is never wrapped and shows short ids unless wide."""

    def __init__(self, title: str, *, id_: bool = False) -> None:
        self.title = title
        self.id = id_


def table(
    title: str | None,
    columns: Sequence[str | Column],
    rows: Sequence[Sequence[Any]],
    *,
    mode: str,
) -> None:
    specs = [c if isinstance(c, Column) else Column(c) for c in columns]
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    wide = mode == WIDE
    if not wide:
        cells = [
            [short_id(v) if spec.id else shorten_ids(v) for spec, v in zip(specs, row, strict=True)]
            for row in cells
        ]
    shown = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for i, spec in enumerate(specs):
        if spec.id:
            longest = max([len(spec.title)] + [len(row[i]) for row in cells])
            shown.add_column(spec.title, no_wrap=True, min_width=longest)
        else:
            shown.add_column(spec.title, overflow="fold")
    for row in cells:
        shown.add_row(*row)
    if wide:
        # Wide is for copying full ids: lines as long as the table needs, never folded.
        natural = out.measure(shown, options=out.options.update_width(_UNBOUNDED)).maximum
        Console(highlight=False, width=max(natural, out.width)).print(shown)
    else:
        out.print(shown)


class TimeLeft(ProgressColumn):
    """A progress bar's time left, written as every duration is (12s, 1m30s)."""

    def render(self, task: Task) -> Text:
        if task.finished:
            return Text(f"done in {format_duration(round(task.finished_time or 0))}")
        left = task.time_remaining
        return Text("" if left is None else f"{format_duration(round(left))} left")


def short(name: str) -> str:
    """The last segment of a resource name: workspaces/w/streams/sales → sales."""
    return name.rsplit("/", 1)[-1]


def fields_line(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={exactjson.dumps(v).decode()}" for k, v in values.items())


def error(message: str, details: Sequence[str] = ()) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    for line in details:
        err.print(f"  {line}", markup=False)
