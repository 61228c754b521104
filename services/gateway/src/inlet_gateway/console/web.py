"""The console's request, reply and route types, and the page rendering they share."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import jinja2
from google.protobuf import timestamp_pb2

from inlet_common import exactjson
from inlet_common.durations import format_duration
from inlet_gateway.console.session import Session
from inlet_gateway.sse import Streaming

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console

HTML = "text/html; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[bytes, bytes]
    # Where the browser reached us: scheme://host, for URLs shown to copy.
    origin: str
    secure: bool
    session: Session | None = None

    @property
    def htmx(self) -> bool:
        return self.headers.get(b"hx-request") == b"true"

    @property
    def signed_in(self) -> Session:
        assert self.session is not None, "route requires a session"
        return self.session


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = HTML
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # A live feed: the gateway sends its messages as Server-Sent Events instead of `body`.
    stream: Streaming | None = None


Handler = Callable[["Console", Request], Awaitable[Reply]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # "/console/endpoints/{id}": also the label logged for the request
    handler: Handler
    signed_in: bool = True
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


class PageError(Exception):
    """A page that cannot be shown: rendered as an error page with this status."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def redirect(location: str, status: int = 303) -> Reply:
    return Reply(status, b"", headers=[(b"location", location.encode("latin-1"))])


def local_path(target: str | None, default: str = "/console/") -> str:
    """`target` when it is a console path of this site, else `default` (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/"):
        return default
    if "//" in parts.path or "\\" in target:
        return default
    return parts.path


def query_string(**params: Any) -> str:
    """`?a=b&…` of the params that have a value ('' when none has)."""
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return f"?{urlencode(kept)}" if kept else ""


# --- templates -------------------------------------------------------------------------------


def _timestamp(value: Any) -> str:
    if isinstance(value, timestamp_pb2.Timestamp):
        if not value.seconds and not value.nanos:
            return "—"
        value = value.ToDatetime(tzinfo=UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "—"


def _iso(value: Any) -> str:
    if isinstance(value, timestamp_pb2.Timestamp) and (value.seconds or value.nanos):
        return str(value.ToJsonString())
    return ""


def _pretty(value: Any) -> str:
    """Exact JSON, indented: numbers written as they were sent."""
    return exactjson.dumps(value, indent=True).decode()


def _compact(value: Any) -> str:
    return exactjson.dumps(value).decode()


def _short(value: str) -> str:
    return value[:8] if len(value) > 8 else value


def _rate(limit: int, window: int) -> str:
    return f"{limit}/{format_duration(window)}" if limit else "—"


def environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("inlet_gateway.console") / "templates"))
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ts=_timestamp,
        iso=_iso,
        pretty=_pretty,
        compact=_compact,
        short=_short,
        duration=format_duration,
    )
    env.globals.update(rate=_rate, query=query_string)
    return env
