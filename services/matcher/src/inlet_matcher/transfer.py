"""Push transfer in the matcher: read a transfer's body (its shape; the session's types are
the store's to check), store it, and wait for it when it is synchronous."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inlet.ingest.v1 import ingest_pb2
from inlet.store.v1 import store_pb2
from inlet_common import exactjson, idempotency, pushwebhooks
from inlet_common.credentials import bearer_token
from inlet_common.errors import Unauthenticated, Violation
from inlet_common.exactjson import kind_of
from inlet_matcher.store_client import GrpcStore

FLAGS = ("webhook_concurrency", "synchronous", "disable_upsert", "sample_data")
# Endgrate's own option, taken and ignored: inlet has no provider rate limit to bypass.
IGNORED = ("bypass_rate_limit",)
TOP_LEVEL = (
    "endgrate_type",
    "session_id",
    "transfer_data",
    *pushwebhooks.OPTIONS,
    *FLAGS,
    *IGNORED,
)
ITEM_KEYS = ("id", "internal_id", "data", "associations")
ASSOCIATION_KEYS = ("id", "internal_id", "data")
MAX_ID = 255
# Bad fields an INVALID_TRANSFER lists (its details travel in gRPC trailers).
MAX_LISTED = 50


@dataclass
class ReadTransfer:
    """A transfer body as read (numbers exact), and every problem found in its shape."""

    session_id: str = ""
    endgrate_type: str = ""
    items: list[Any] = field(default_factory=list)
    association_types: dict[str, str] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    problems: list[Violation] = field(default_factory=list)
    canonical: Any = None


def _identity(path: str, value: Any, problems: list[Violation]) -> None:
    """An id or internal_id: a non-empty string (or an integer, kept as its text)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.append(Violation(path, f"must be a string, got {kind_of(value)}", "INVALID_TYPE"))
    elif not str(value).strip() or len(str(value)) > MAX_ID:
        problems.append(Violation(path, f"must be 1 to {MAX_ID} characters", "INVALID_IDENTIFIER"))


def _entity(
    path: str, value: Any, keys: tuple[str, ...], problems: list[Violation]
) -> dict[str, Any] | None:
    """One item or association: an object with `data`, and optional ids."""
    if not isinstance(value, dict):
        problems.append(
            Violation(path, f"must be an object with data, got {kind_of(value)}", "INVALID_TYPE")
        )
        return None
    for key in value:
        if key not in keys:
            problems.append(
                Violation(
                    f"{path}.{key}",
                    f"unknown field {key!r} (known: {', '.join(keys)})",
                    "UNKNOWN_FIELD",
                )
            )
    if value.get("data") is None:
        problems.append(
            Violation(
                f"{path}.data", "data is required: the values to push", "REQUIRED_FIELD_MISSING"
            )
        )
    elif not isinstance(value["data"], dict):
        problems.append(
            Violation(
                f"{path}.data", f"must be an object, got {kind_of(value['data'])}", "INVALID_TYPE"
            )
        )
    for key in ("id", "internal_id"):
        if value.get(key) is not None:
            _identity(f"{path}.{key}", value[key], problems)
    return value


def _text(body: dict[str, Any], name: str, problems: list[Violation]) -> str:
    value = body.get(name)
    if value is None:
        problems.append(Violation(name, f"{name} is required", "REQUIRED_FIELD_MISSING"))
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.append(
            Violation(name, f"must be a non-empty string, got {kind_of(value)}", "INVALID_TYPE")
        )
        return ""
    return value.strip()


def read_transfer(data: bytes) -> ReadTransfer:
    """Everything that can be judged without the session: JSON, fields, types, webhooks."""
    read = ReadTransfer()
    problems = read.problems
    if not data.strip():
        problems.append(
            Violation("body", "request body is empty: send a JSON object", "EMPTY_BODY")
        )
        return read
    try:
        body = exactjson.loads(data)
    except exactjson.DecodeError as error:
        problems.append(
            Violation("body", f"request body is not valid JSON: {error}", "MALFORMED_JSON")
        )
        return read
    if not isinstance(body, dict):
        problems.append(
            Violation(
                "body", f"request body must be a JSON object, got {kind_of(body)}", "INVALID_TYPE"
            )
        )
        return read
    read.canonical = body
    for key in body:
        if key not in TOP_LEVEL:
            problems.append(
                Violation(
                    key, f"unknown field {key!r} (known: {', '.join(TOP_LEVEL)})", "UNKNOWN_FIELD"
                )
            )
    read.endgrate_type = _text(body, "endgrate_type", problems)
    read.session_id = _text(body, "session_id", problems)
    items = body.get("transfer_data")
    if items is None:
        problems.append(
            Violation("transfer_data", "transfer_data is required", "REQUIRED_FIELD_MISSING")
        )
    elif not isinstance(items, list):
        problems.append(
            Violation("transfer_data", f"must be an array, got {kind_of(items)}", "INVALID_TYPE")
        )
    elif not items:
        problems.append(
            Violation("transfer_data", "transfer_data is empty: send at least one item", "EMPTY")
        )
    else:
        read.items = items
        for i, item in enumerate(items):
            path = f"transfer_data[{i}]"
            found = _entity(path, item, ITEM_KEYS, problems)
            if found is None or found.get("associations") is None:
                continue
            _associations(f"{path}.associations", found["associations"], read, problems)
    for name, short in pushwebhooks.OPTIONS.items():
        option, bad = pushwebhooks.webhook_option(name, body.get(name))
        problems += bad
        if option is not None:
            read.webhooks[short] = option
    for name in FLAGS:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            problems.append(
                Violation(name, f"must be true or false, got {kind_of(value)}", "INVALID_TYPE")
            )
        read.flags[name] = value is True
    return read


def _associations(path: str, value: Any, read: ReadTransfer, problems: list[Violation]) -> None:
    if not isinstance(value, dict):
        problems.append(
            Violation(
                path,
                f"must be an object of endgrate type → array, got {kind_of(value)}",
                "INVALID_TYPE",
            )
        )
        return
    for name, entries in value.items():
        here = f"{path}.{name}"
        read.association_types.setdefault(name, here)
        if not isinstance(entries, list):
            problems.append(
                Violation(here, f"must be an array, got {kind_of(entries)}", "INVALID_TYPE")
            )
            continue
        for j, entry in enumerate(entries):
            _entity(f"{here}[{j}]", entry, ASSOCIATION_KEYS, problems)


def bearer(metadata: dict[str, Any]) -> str:
    """The credential of `authorization: Bearer …` (empty when absent: the store says 401)."""
    try:
        return bearer_token(str(metadata.get("authorization", "")), what="API key")
    except Unauthenticated:
        return ""


class GrpcTransferStore(GrpcStore):
    """The store's push-transfer RPCs, over the same channel and error translation."""

    async def accept_transfer(
        self, request: store_pb2.AcceptPushTransferRequest
    ) -> store_pb2.AcceptPushTransferResponse:
        return await self._call(self._stub.AcceptPushTransfer, request)

    async def transfer(
        self, request: store_pb2.GetPushTransferRequest
    ) -> store_pb2.GetPushTransferResponse:
        return await self._call(self._stub.GetPushTransfer, request)


@dataclass(frozen=True)
class Triggered:
    accepted: store_pb2.AcceptPushTransferResponse
    completed: bool


class PushTransfers:
    """Triggering transfers (answered once stored, or once done when synchronous) and
    reading their returned data."""

    def __init__(
        self,
        store: GrpcTransferStore,
        on_accepted: Callable[[], None] = lambda: None,
        *,
        sync_max_seconds: float = 300.0,
    ) -> None:
        self.store = store
        self.on_accepted = on_accepted
        self.sync_max_seconds = sync_max_seconds

    async def trigger(
        self,
        metadata: dict[str, Any],
        body: bytes,
        *,
        edge_reason: str = "",
        edge_message: str = "",
    ) -> Triggered:
        read = ReadTransfer() if edge_reason else read_transfer(body)
        key = str(metadata.get("idempotency-key", ""))
        api_key = bearer(metadata)
        request = store_pb2.AcceptPushTransferRequest(
            api_key=api_key,
            idempotency_key=key,
            body_hash=idempotency.body_hash(read.canonical) if key and read.canonical else b"",
            session_id=read.session_id,
            endgrate_type=read.endgrate_type,
            transfer_data=exactjson.to_raw(read.items),
            association_types=read.association_types,
            webhooks=exactjson.to_raw(read.webhooks),
            webhook_concurrency=read.flags.get("webhook_concurrency", False),
            disable_upsert=read.flags.get("disable_upsert", False),
            sample_data=read.flags.get("sample_data", False),
            violations=[
                ingest_pb2.IngestFieldError(field=p.field, code=p.reason, message=p.description)
                for p in read.problems[:MAX_LISTED]
            ],
            rejection=edge_message or edge_reason,
            rejection_reason="PAYLOAD_TOO_LARGE" if edge_reason == "PAYLOAD_TOO_LARGE" else "",
        )
        accepted = await self.store.accept_transfer(request)
        if not accepted.replayed:
            self.on_accepted()  # our own workers start at once; others poll
        completed = False
        if read.flags.get("synchronous"):
            completed = await self._wait(api_key, accepted.transfer_id)
        return Triggered(accepted, completed)

    async def _wait(self, api_key: str, transfer_id: str) -> bool:
        """Poll until the transfer completes or the wait reaches its maximum."""
        deadline = time.monotonic() + self.sync_max_seconds
        pause = 0.02
        while True:
            found = await self.store.transfer(
                store_pb2.GetPushTransferRequest(
                    api_key=api_key, transfer_id=transfer_id, summary_only=True
                )
            )
            if found.data.completed:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.5)

    async def data(
        self, metadata: dict[str, Any], transfer_id: str
    ) -> ingest_pb2.GetPushDataResponse:
        found = await self.store.transfer(
            store_pb2.GetPushTransferRequest(api_key=bearer(metadata), transfer_id=transfer_id)
        )
        return found.data
