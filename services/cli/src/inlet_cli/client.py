"""The admin API client: gRPC calls with the admin token, failures as one-line CliErrors."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import grpc
import typer
from google.protobuf import duration_pb2, message, timestamp_pb2

from inlet.admin.v1 import admin_pb2_grpc
from inlet_cli import render
from inlet_common.durations import format_duration, parse_duration, parse_time
from inlet_common.errors import reason_of, status_from_rpc_error, violations_of

# Exit codes: what went wrong, for scripts.
EXIT_FAILED = 1  # e.g. rows of an import failed
EXIT_USAGE = 2  # bad flags or configuration
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4  # missing, wrong or foreign admin token
EXIT_REFUSED = 5  # invalid input, conflict, precondition
EXIT_UNAVAILABLE = 6  # the service could not be reached or timed out

_EXIT_BY_CODE = {
    grpc.StatusCode.NOT_FOUND: EXIT_NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED: EXIT_AUTH,
    grpc.StatusCode.PERMISSION_DENIED: EXIT_AUTH,
    grpc.StatusCode.INVALID_ARGUMENT: EXIT_REFUSED,
    grpc.StatusCode.FAILED_PRECONDITION: EXIT_REFUSED,
    grpc.StatusCode.ALREADY_EXISTS: EXIT_REFUSED,
    grpc.StatusCode.UNAVAILABLE: EXIT_UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: EXIT_UNAVAILABLE,
}

R = TypeVar("R", bound=message.Message)
# The admin API's largest page (inlet_common.admin.paging.MAX_PAGE_SIZE).
MAX_PAGE_SIZE = 1000
S = TypeVar("S")


class CliError(Exception):
    """A failure to print in one line, with the exit code that names its kind."""

    def __init__(self, message: str, exit_code: int, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.details = details or []


@dataclass(frozen=True)
class Settings:
    admin_url: str
    admin_token: str
    workspace: str
    timeout: float = 30.0

    @classmethod
    def resolve(
        cls, admin_url: str | None, admin_token: str | None, workspace: str | None
    ) -> Settings:
        """Flags win over INLET_ADMIN_URL / INLET_ADMIN_TOKEN / INLET_WORKSPACE."""
        url = admin_url or os.environ.get("INLET_ADMIN_URL", "127.0.0.1:50052")
        token = admin_token or os.environ.get("INLET_ADMIN_TOKEN", "")
        space = workspace or os.environ.get("INLET_WORKSPACE", "")
        if not token:
            raise CliError("no admin token: set INLET_ADMIN_TOKEN or pass --admin-token", 2)
        if not space:
            raise CliError("no workspace: set INLET_WORKSPACE or pass --workspace", 2)
        return cls(grpc_address(url), token, space)


def grpc_address(url: str) -> str:
    """gRPC wants host:port; accept a URL as people paste it."""
    for prefix in ("grpc://", "http://", "dns:///"):
        url = url.removeprefix(prefix)
    return url.rstrip("/")


class Client(Generic[S]):
    """One gRPC service called with the admin token; every failure becomes a CliError.

    The admin, stream-admin and webhook commands each talk to one such service.
    """

    # Named when the service cannot be reached: what it is and how to point at it.
    service = "admin API"
    setting = "set INLET_ADMIN_URL or --admin-url"

    def __init__(
        self, settings: Settings, stub: Callable[[grpc.Channel], S], address: str = ""
    ) -> None:
        self.settings = settings
        self.address = address or settings.admin_url
        self._channel = grpc.insecure_channel(self.address)
        self.stub = stub(self._channel)

    @property
    def workspace(self) -> str:
        return f"workspaces/{self.settings.workspace}"

    def close(self) -> None:
        self._channel.close()

    def call(self, method: Callable[..., R], request: message.Message) -> R:
        metadata = (("authorization", f"Bearer {self.settings.admin_token}"),)
        try:
            return method(request, metadata=metadata, timeout=self.settings.timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(
                error, f"the {self.service} at {self.address} ({self.setting})"
            ) from None

    def every(self, method: Callable[..., Any], request: message.Message, field: str) -> list[Any]:
        """Every item (`field` of each page) of a paged list, first page to last, asked for
        at the API's largest page size."""
        items: list[Any] = []
        for page in every_page(lambda token: self.call(method, _page_of(request, token))):
            items.extend(getattr(page, field))
        return items


def _page_of(request: message.Message, token: str) -> message.Message:
    asked = type(request)()
    asked.CopyFrom(request)
    setattr(asked, "page_size", MAX_PAGE_SIZE)  # noqa: B010 - every list request has one
    setattr(asked, "page_token", token)  # noqa: B010
    return asked


class Admin(Client[admin_pb2_grpc.AdminServiceStub]):
    """AdminService on the store."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, admin_pb2_grpc.AdminServiceStub)


C = TypeVar("C", bound=Client[Any])


@contextmanager
def opened(options: Any, make: Callable[[Settings], C]) -> Iterator[C]:
    """A client from the global options; any CliError printed in one line, exit code kept."""
    try:
        client = make(Settings.resolve(options.admin_url, options.admin_token, options.workspace))
    except CliError as error:
        render.error(error.message)
        raise typer.Exit(error.exit_code) from None
    try:
        yield client
    except CliError as error:
        render.error(error.message, error.details)
        raise typer.Exit(error.exit_code) from None
    finally:
        client.close()


def from_rpc_error(error: Any, where: str) -> CliError:
    """One line for a failed call: reason and message, then only the field violations
    the message does not already say."""
    code: grpc.StatusCode = error.code()
    status = status_from_rpc_error(error)
    if code == grpc.StatusCode.UNAVAILABLE and not status.details:
        return CliError(f"cannot reach {where}", EXIT_UNAVAILABLE)
    details = [
        f"{v.field}: {v.description} ({v.reason})"
        for v in violations_of(status)
        if v.field not in status.message and v.description not in status.message
    ]
    reason = reason_of(status)
    return CliError(f"{reason}: {status.message}", _EXIT_BY_CODE.get(code, 1), details)


def resolve_id(given: str, ids: Iterable[str], what: str, reason: str) -> str:
    """The one id starting with `given` (tables show ids short); CliError otherwise, with
    `reason` (e.g. ENDPOINT_NOT_FOUND) when none does."""
    matches = sorted({i for i in ids if i.startswith(given)}) if given else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CliError(f"{reason}: no {what} has an id starting with {given!r}", EXIT_NOT_FOUND)
    shown = ", ".join(matches[:5]) + (" …" if len(matches) > 5 else "")
    raise CliError(
        f"{given!r} is the start of {len(matches)} {what} ids ({shown}): give more of it",
        EXIT_USAGE,
    )


def is_full_id(given: str) -> bool:
    """A whole uuid or resource name: used as given, with no lookup."""
    return "/" in given or bool(render.UUID.fullmatch(given))


class _Page(Protocol):
    @property
    def next_page_token(self) -> str: ...


P = TypeVar("P", bound=_Page)


def every_page(fetch: Callable[[str], P]) -> Iterator[P]:
    """Each page of a paged list, first to last: `fetch(page_token)` until no next token."""
    token = ""
    while True:
        page = fetch(token)
        yield page
        token = page.next_page_token
        if not token:
            return


# -- shared by the command modules ------------------------------------------------------------


def output_mode(ctx: typer.Context) -> str:
    """table, wide or json: -o/--output, --wide or --json (global options on ctx.obj)."""
    return str(ctx.obj.output)


def json_mode(ctx: typer.Context) -> bool:
    return output_mode(ctx) == render.JSON


def usage_error(message: str) -> typer.Exit:
    render.error(message)
    return typer.Exit(EXIT_USAGE)


def timestamp(option: str, text: str) -> timestamp_pb2.Timestamp:
    """An ISO 8601 time or a duration ago, for `option`; a usage error otherwise."""
    try:
        when = parse_time(text)
    except ValueError as error:
        raise usage_error(f"{option}: {error}") from None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def duration(option: str, text: str) -> duration_pb2.Duration:
    """A duration such as 10m, for `option`; a usage error otherwise."""
    period = duration_pb2.Duration()
    try:
        period.FromTimedelta(parse_duration(text))
    except ValueError as error:
        raise usage_error(f"{option}: {error}") from None
    return period


def rate_limit_option(value: int, option: str = "--rate-limit") -> int:
    """A rate limit option: at least 1 (0 would ask the API for its default)."""
    if value < 1:
        raise usage_error(f"{option}: {value} is not a number of requests of at least 1")
    return value


def whole_seconds(option: str, text: str, *, minimum: int = 1) -> int:
    """A duration such as 90s or 1m as whole seconds (at least `minimum`), for `option`."""
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as error:
        raise usage_error(f"{option}: {error}") from None
    if seconds < minimum or not seconds.is_integer():
        least = format_duration(minimum)
        raise usage_error(
            f"{option}: {text!r} is not a whole number of seconds of at least {least}"
        )
    return int(seconds)


def name_and_rate_changes(
    name: str | None, rate_limit: int | None, rate_window: str | None
) -> dict[str, Any]:
    """What `update --name/--rate-limit/--rate-window` changes, by field, checked; a usage
    error when nothing is given."""
    values: dict[str, Any] = {}
    if name is not None:
        values["display_name"] = name
    if rate_limit is not None:
        values["rate_limit"] = rate_limit_option(rate_limit)
    if rate_window is not None:
        values["rate_window_seconds"] = whole_seconds("--rate-window", rate_window)
    if not values:
        raise usage_error("nothing to change: pass --name, --rate-limit or --rate-window")
    return values


def show_secret(
    ctx: typer.Context,
    field: str,
    resource: message.Message,
    headline: str,
    secret: str,
    noun: str,
) -> None:
    """A credential's only showing: JSON for scripts, else a headline, the secret alone on
    its line (to copy), and the warning on stderr."""
    if json_mode(ctx):
        render.emit_json({field: render.as_dict(resource), "secret": secret})
        return
    render.out.print(headline)
    render.out.print(secret, markup=False)
    render.err.print(f"This {noun} is shown once; store it now.")
