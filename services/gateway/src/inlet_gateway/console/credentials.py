"""What the credential pages share: a secret shown once, the grace of a rotation, and the
request-log entries with their errors read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from google.protobuf import duration_pb2

from inlet_common import exactjson
from inlet_gateway.console.forms import FormError, optional_duration
from inlet_gateway.console.web import PageError, Reply, Request

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console

SHOWN_ONCE = "It is shown once and inlet keeps only its hash: copy it now."


@dataclass
class LogView:
    """One request-log entry, its errors parsed, and what it names besides the common fields
    (the credential it was made with, its transfer, …) as label and value."""

    entry: Any
    errors: list[Any]
    facts: list[tuple[str, str]] = field(default_factory=list)


def log_view(entry: Any, facts: list[tuple[str, str]] | None = None) -> LogView:
    """`facts` followed by what every dialect's log entry may name: the caller's request id
    and the request a replay was answered with."""
    shown = [(label, value) for label, value in facts or [] if value]
    if entry.client_request_id:
        shown.append(("Client request id", entry.client_request_id))
    if entry.replay_of:
        differed = " (body differed)" if getattr(entry, "body_differed", False) else ""
        shown.append(("Replay of", f"{entry.replay_of}{differed}"))
    return LogView(entry, [exactjson.from_raw(raw, {}) for raw in entry.errors], shown)


def grace_period(request: Request) -> duration_pb2.Duration | None:
    """The form's grace period of a rotation (none: the old credential stops at once)."""
    try:
        return optional_duration(request.form.get("grace"), "Grace period")
    except FormError as bad:
        raise PageError(400, "Refused", str(bad)) from None


def retired(previous: Any) -> str:
    """What happened to the credential a rotation replaced."""
    # Some services stamp an immediate retirement with the rotation's own time.
    if previous.HasField("expire_time"):
        until = previous.expire_time.ToDatetime(tzinfo=UTC)
        if until > datetime.now(UTC):
            return f"The old one keeps working until {until:%Y-%m-%d %H:%M:%S} UTC."
    return "The old one stopped working."


def shown_once(
    console: Console,
    request: Request,
    *,
    current: str,
    title: str,
    what: str,
    secret: str,
    explain: str,
    back: tuple[str, str],
) -> Reply:
    """The page that shows a new secret, once, with a copy button."""
    return console.page(
        request,
        "secret_once.html",
        current=current,
        title=title,
        what=what,
        secret=secret,
        explain=explain,
        next_href=back[0],
        next_label=back[1],
    )


def rotated(
    console: Console,
    request: Request,
    *,
    current: str,
    what: str,
    made: Any,
    secret: str,
    previous: Any,
    back: tuple[str, str],
) -> Reply:
    """The page that shows a rotation's new secret, once, and what became of the old one."""
    return shown_once(
        console,
        request,
        current=current,
        title=f"{what[0].upper()}{what[1:]} {made.prefix} replaces {previous.prefix}",
        what=what,
        secret=secret,
        explain=f"Shown once: copy it now. {retired(previous)}",
        back=back,
    )
