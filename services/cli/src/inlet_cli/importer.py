"""`inlet import`: push a CSV or NDJSON file through an ingest endpoint, row by row.

Each row is one push to the endpoint's URL, so it is validated, matched and logged
exactly as any other push. Rows that fail are written, with an `_error` column, to a
file that can be fixed and imported again (columns and keys starting with `_` are
ignored on import).
"""

from __future__ import annotations

import asyncio
import csv
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from inlet_common import exactjson

RETRIED_STATUSES = {429, 502, 503, 504}
MAX_ATTEMPTS = 4
MAX_RATE_LIMIT_WAITS = 30
MAX_RATE_LIMIT_SLEEP = 60.0


@dataclass
class Row:
    number: int  # 1-based data row (line for NDJSON)
    original: dict[str, Any]
    body: dict[str, Any] | None
    problem: str = ""


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    failed: list[tuple[Row, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + len(self.failed)


def coerce(value: str, field_type: str | None) -> Any:
    """A CSV cell as the JSON value its field wants (strings stay strings when unknown)."""
    if field_type in ("number", "integer"):
        # Exactly as written: float() would turn 9007199254740993 into …992. A cell that
        # is no JSON number stays text, and the endpoint names the bad value.
        return exactjson.number_or_text(value)
    if field_type == "boolean":
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
    return value


def body_of_columns(columns: dict[str, str], types: dict[str, str]) -> dict[str, Any]:
    """{"fields": …, "related": …} from columns such as email or related.contact.email."""
    fields: dict[str, Any] = {}
    related: dict[str, dict[str, Any]] = {}
    for name, raw in columns.items():
        if name is None or name.startswith("_") or raw is None or raw == "":
            continue
        path = name.removeprefix("fields.")
        if path.startswith("related."):
            _, slug, sub = [*path.split(".", 2), "", ""][:3]
            related.setdefault(slug, {})[sub] = coerce(raw, types.get(f"related.{slug}.{sub}"))
        else:
            fields[path] = coerce(raw, types.get(f"fields.{path}"))
    body: dict[str, Any] = {"fields": fields}
    if related:
        body["related"] = related
    return body


def read_rows(path: Path, types: dict[str, str]) -> tuple[list[Row], str, list[str]]:
    """The rows of a file, its format ("csv" or "ndjson"), and the CSV header."""
    fmt = "ndjson" if path.suffix.lower() in (".ndjson", ".jsonl") else "csv"
    rows: list[Row] = []
    header: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        if fmt == "csv":
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            for number, columns in enumerate(reader, start=1):
                rows.append(Row(number, dict(columns), body_of_columns(columns, types)))
        else:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                rows.append(_ndjson_row(number, line))
    return rows, fmt, header


def _ndjson_row(number: int, line: str) -> Row:
    try:
        value = exactjson.loads(line)
    except exactjson.DecodeError as error:
        return Row(number, {"_line": line.rstrip("\n")}, None, f"not JSON: {error.msg}")
    if not isinstance(value, dict):
        return Row(number, {"_line": line.rstrip("\n")}, None, "not a JSON object")
    clean = {k: v for k, v in value.items() if not k.startswith("_")}
    body = clean if "fields" in clean or "related" in clean else {"fields": clean}
    return Row(number, value, body)


def describe_failure(response: httpx.Response) -> str:
    """One line from a problem+json answer: code, then each bad field."""
    try:
        problem = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    code = problem.get("code") or f"HTTP {response.status_code}"
    errors = problem.get("errors") or []
    if errors:
        return (
            code
            + ": "
            + "; ".join(
                f"{e.get('field')}: {e.get('code')} {e.get('message', '')}".strip() for e in errors
            )
        )
    return f"{code}: {problem.get('detail', '')}".rstrip(": ")


async def push_all(
    url: str,
    rows: list[Row],
    *,
    concurrency: int,
    on_done: Callable[[], None],
    request_seconds: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Summary:
    summary = Summary()
    run_id = secrets.token_hex(8)
    queue: Iterator[Row] = iter(rows)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        timeout=request_seconds, limits=limits, transport=transport
    ) as client:

        async def worker() -> None:
            for row in queue:
                await _push_one(client, url, row, summary, run_id)
                on_done()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    summary.failed.sort(key=lambda failed: failed[0].number)
    return summary


async def _push_one(
    client: httpx.AsyncClient, url: str, row: Row, summary: Summary, run_id: str
) -> None:
    if row.body is None:
        summary.failed.append((row, row.problem))
        return
    # One key per row and run: a retry after a lost answer replays the first result
    # instead of counting a created row as updated.
    headers = {
        "idempotency-key": f"import-{run_id}-{row.number}",
        "content-type": "application/json",
    }
    delay = 0.2
    attempt = 0
    waits = 0
    while True:
        try:
            response = await client.post(url, content=exactjson.dumps(row.body), headers=headers)
        except httpx.TransportError as error:
            attempt += 1
            if attempt == MAX_ATTEMPTS:
                summary.failed.append((row, f"could not reach {url.split('/api/')[0]}: {error}"))
                return
        else:
            if response.status_code == 200:
                action = response.json().get("record", {}).get("action")
                if action == "created":
                    summary.created += 1
                else:
                    summary.updated += 1
                return
            if response.status_code == 429 and waits < MAX_RATE_LIMIT_WAITS:
                # The endpoint's rate limit is flow control, not failure: wait it out.
                waits += 1
                await asyncio.sleep(retry_after(response, delay))
                continue
            attempt += 1
            if response.status_code not in RETRIED_STATUSES or attempt == MAX_ATTEMPTS:
                summary.failed.append((row, describe_failure(response)))
                return
        await asyncio.sleep(delay)
        delay *= 2


def retry_after(response: httpx.Response, fallback: float) -> float:
    """Seconds the server asked us to wait (Retry-After in seconds), within reason."""
    try:
        return min(MAX_RATE_LIMIT_SLEEP, max(0.0, float(response.headers["retry-after"])))
    except (KeyError, ValueError):
        return fallback


def write_failed(path: Path, fmt: str, header: list[str], summary: Summary) -> None:
    """The failed rows as the input was, plus `_error`: fix them and import this file."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        if fmt == "csv":
            names = [h for h in header if h != "_error"] + ["_error"]
            writer = csv.DictWriter(handle, fieldnames=names, extrasaction="ignore")
            writer.writeheader()
            for row, problem in summary.failed:
                writer.writerow({**row.original, "_error": problem})
        else:
            for row, problem in summary.failed:
                handle.write(exactjson.dumps({**row.original, "_error": problem}).decode() + "\n")
