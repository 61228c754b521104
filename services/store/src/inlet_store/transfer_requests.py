"""A push transfer as the store takes it in and answers it, and what its session finds wrong."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inlet.store.v1 import store_pb2
from inlet_common.errors import Violation

# Bad fields named in INVALID_TRANSFER's message (its details list them all).
_MESSAGE_FIELDS = 3


@dataclass(frozen=True)
class ApiKey:
    id: str
    workspace_id: str
    rate_limit: int
    rate_window_seconds: int


@dataclass(frozen=True)
class TransferRequest:
    """One POST /api/push/transfer as the matcher read it."""

    api_key: str
    idempotency_key: str = ""
    body_hash: bytes = b""
    session_id: str = ""
    endgrate_type: str = ""
    items: list[Any] = field(default_factory=list)
    association_types: Mapping[str, str] = field(default_factory=dict)  # type → path
    webhooks: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # data → option
    webhook_concurrency: bool = False
    disable_upsert: bool = False
    sample_data: bool = False
    violations: tuple[Violation, ...] = ()
    rejection: str = ""
    rejection_reason: str = ""


@dataclass(frozen=True)
class Accepted:
    transfer_id: str
    replayed: bool
    rate: store_pb2.RateLimitState
    items_received: int


@dataclass(frozen=True)
class TransferData:
    transfer_id: str
    session_id: str
    endgrate_type: str
    status: str
    items_received: int
    items_processed: int
    create_time: datetime
    finish_time: datetime | None
    items: list[dict[str, Any]]

    @property
    def completed(self) -> bool:
        return self.status == "completed"


def invalid_message(violations: tuple[Violation, ...]) -> str:
    """INVALID_TRANSFER's message: the first few bad fields, and how many there are."""
    shown = violations[:_MESSAGE_FIELDS]
    text = "; ".join(f"{v.field}: {v.description}" for v in shown)
    if len(violations) > len(shown):
        text += f"; and {len(violations) - len(shown)} more (all in errors)"
    return f"invalid transfer: {text}"


def session_problems(session: dict[str, Any] | None, request: TransferRequest) -> list[Violation]:
    """What the session says is wrong: unknown session, unknown endgrate types."""
    if not request.session_id or any(v.field == "session_id" for v in request.violations):
        return []  # the matcher has said what is wrong with it
    if session is None:
        return [
            Violation(
                "session_id",
                f"no session {request.session_id!r} in the API key's workspace",
                "UNKNOWN_SESSION",
            )
        ]
    types = session["types"]
    problems: list[Violation] = []
    known = ", ".join(types) or "none"
    if request.endgrate_type and request.endgrate_type not in types:
        problems.append(
            Violation(
                "endgrate_type",
                f"{request.endgrate_type!r} is not a type of session {session['id']}"
                f" (its types: {known})",
                "UNKNOWN_ENDGRATE_TYPE",
            )
        )
    for name, path in request.association_types.items():
        if name not in types:
            problems.append(
                Violation(
                    path,
                    f"association type {name!r} is not a type of session {session['id']}"
                    f" (its types: {known})",
                    "UNKNOWN_ENDGRATE_TYPE",
                )
            )
    return problems
