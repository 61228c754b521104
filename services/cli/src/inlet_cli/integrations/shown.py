"""How integration ingest's resources print: times, rates, sizes, token states, secrets."""

from __future__ import annotations

from typing import Any

import typer

from inlet_cli.client import show_secret
from inlet_common.durations import format_duration


def when(stamp: Any) -> str:
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M:%S") if stamp.seconds else ""


def rate(limit: int, window: int) -> str:
    return f"{limit}/{format_duration(window)}"


def byte_size(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} B"


def token_state(revoke_time: Any, expire_time: Any = None) -> str:
    if revoke_time.seconds:
        return "revoked"
    if expire_time is not None and expire_time.seconds:
        return f"expires {when(expire_time)}"
    return "active"


def show_token_secret(ctx: typer.Context, what: str, resource: Any, secret: str) -> None:
    headline = f"{what.replace('_', ' ')} {resource.name.rsplit('/', 1)[-1]}"
    show_secret(ctx, what, resource, headline, secret, "token")
