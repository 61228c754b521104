"""Integration ingest in the store (shared/seeds/svit-external-data-ingestion.txt): data
ingestion into the inbox that stream ingest uses, its status, the ping, and the external
form; every request that names a valid token is logged against it.

inlet_common.errors.InletError
├── Unauthenticated ── ExternalUnauthorized            (401 UNAUTHORIZED)
├── NotFound ── IntegrationNotFound, RequestNotFound    (404)
├── PermissionDenied ── IntegrationDisabled,           (403)
│                       OriginNotAllowed
└── InvalidArgument ── TypeNotSupported                (400 INTEGRATION_TYPE_NOT_SUPPORTED)
(the body's own 400s, PayloadTooLarge, RateLimited and the Idempotency-Key errors are those
of the other dialects)
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet.store.v1 import store_pb2
from inlet_common import exactjson, idempotency, logs, mappings
from inlet_common.credentials import token_hash
from inlet_common.errors import (
    InletError,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    Violation,
)
from inlet_common.integration_bodies import count_items
from inlet_store import guards, outbox
from inlet_store import repository as repo
from inlet_store.admin.integration_tokens import ANY_ORIGIN
from inlet_store.admin.integrations import IntegrationNotFound
from inlet_store.domain import Outcome, PlannedRecord
from inlet_store.errors import wrap_exceptions
from inlet_store.external_tokens import CLIENT, PROJECT, parse_token
from inlet_store.inbox import (
    INTEGRATION,
    Accepted,
    Inbox,
    InboxRow,
    ItemOutcome,
    Source,
    StreamSchema,
    entity_type_of,
    item_outcomes,
)
from inlet_store.service import InvalidIdempotencyKey
from inlet_store.streams import PayloadTooLarge, RequestNotFound

log = logging.getLogger(__name__)

MALFORMED_JSON = "MALFORMED_JSON"
EMPTY_BODY = "EMPTY_BODY"
VALIDATION_FAILED = "VALIDATION_FAILED"
FORM = "form"


class ExternalUnauthorized(Unauthenticated):
    reason = "UNAUTHORIZED"


class IntegrationDisabled(PermissionDenied):
    reason = "INTEGRATION_DISABLED"


class OriginNotAllowed(PermissionDenied):
    reason = "ORIGIN_NOT_ALLOWED"


@dataclass(frozen=True)
class ProjectTokenContext:
    token_id: str
    workspace_id: str

    def source(self, integration_id: str = "", name: str = "") -> Source:
        """The token as a source of log lines (and of an integration's requests)."""
        return Source(INTEGRATION, integration_id, name, self.token_id, self.workspace_id, "", 0, 0)


@dataclass(frozen=True)
class RequestStatus:
    request_id: str
    integration: str
    status: str
    items_received: int
    items_processed: int
    items_failed: int
    create_time: datetime
    finish_time: datetime | None
    items: list[ItemOutcome]


@dataclass(frozen=True)
class FormSubmission:
    """A form as the matcher planned it (record unset when it was refused)."""

    client_token: str
    origin: str
    schema_version: str
    record: PlannedRecord | None
    violations: tuple[Violation, ...]
    submission: Any
    rejection: str = ""
    rejection_reason: str = ""


@dataclass(frozen=True)
class FormApplied:
    record: Outcome
    rate: store_pb2.RateLimitState


def _bearer_problem(what: str, header: str) -> ExternalUnauthorized:
    return ExternalUnauthorized(
        f"missing or malformed {what}: send {header}",
        violations=[Violation(header.split(":")[0], f"missing or malformed {what}", "REQUIRED")],
    )


class External:
    """Use cases of the external API over one pool; requests go into `inbox`."""

    def __init__(self, pool: AsyncConnectionPool[Any], inbox: Inbox) -> None:
        self.pool = pool
        self.inbox = inbox

    # -- credentials ------------------------------------------------------------------------

    async def _project_token(self, conn: repo.Conn, token: str) -> ProjectTokenContext:
        parsed = parse_token(PROJECT, token)
        if parsed is None:
            raise _bearer_problem("project token", "Authorization: Bearer <project token>")
        found = await repo.row(conn, "project_token_auth", id=parsed.token_id)
        if not _secret_matches(found, parsed.secret) or found is None:
            raise ExternalUnauthorized("the project token is not valid")
        if not found["active"]:
            raise ExternalUnauthorized("the project token is revoked or expired")
        return ProjectTokenContext(found["id"], str(found["workspace_id"]))

    # -- data ingestion ---------------------------------------------------------------------

    async def accept(
        self,
        *,
        request_id: str,
        project_token: str,
        integration_id: str,
        body: bytes,
        content_type: str,
        idempotency_key: str,
        rejection: str = "",
    ) -> Accepted:
        """Store the body as sent, durably (committed), before answering; see the RPC."""
        async with wrap_exceptions(), self.pool.connection() as conn:
            token = await self._project_token(conn, project_token)
            source = token.source()
            try:
                found = await repo.row(
                    conn,
                    "integration_for_request",
                    workspace_id=token.workspace_id,
                    slug=integration_id,
                )
                if found is None:
                    raise IntegrationNotFound(
                        f"Integration with ID {integration_id[:200]} not found"
                    )
                source = Source(
                    INTEGRATION,
                    str(found["id"]),
                    found["slug"],
                    token.token_id,
                    token.workspace_id,
                    f"integration:{found['id']}",
                    found["rate_limit"],
                    found["rate_window_seconds"],
                )
                if not found["enabled"]:
                    raise IntegrationDisabled(
                        f"Integration with ID {found['slug']} is disabled; enable it to ingest"
                    )
                mappings.check_type(found["type"])
                rate = await self.inbox.hit_rate_limit(conn, source)
                if rejection:
                    # The edge's verdict (too large for any integration), logged here.
                    raise PayloadTooLarge(rejection)
                if len(body) > found["max_body_bytes"]:
                    # Judged on the length alone: an oversized body is never parsed.
                    raise PayloadTooLarge(
                        f"request body exceeds this integration's limit of"
                        f" {found['max_body_bytes']} bytes"
                    )
                guards.check_idempotency_key(idempotency_key, InvalidIdempotencyKey)
                document = _document(body)
                items = count_items(found["type"], found["mapping"], document)
                digest = idempotency.body_hash(document) if idempotency_key else b""
                row = InboxRow(items, body=body, content_type=content_type)
                return await self.inbox.store_request(
                    conn, source, rate, request_id, idempotency_key, digest, row
                )
            except InletError as error:
                await self.inbox.log_rejection(conn, source, request_id, error, 0)
                raise
            except Exception:
                # A fault of ours is logged too (the caller sees only a 500), then raised.
                await self.inbox.log_rejection(conn, source, request_id, _internal(), 0)
                raise

    async def status(self, *, project_token: str, request_id: str) -> RequestStatus:
        async with wrap_exceptions(), self.pool.connection() as conn:
            token = await self._project_token(conn, project_token)
            try:
                found = await repo.row(
                    conn,
                    "integration_request_status",
                    id=request_id,
                    workspace_id=token.workspace_id,
                )
                if found is None:
                    raise RequestNotFound(f"Request with ID {request_id[:200]} not found")
                items = await item_outcomes(conn, request_id)
            except InletError as error:
                await self.inbox.log_rejection(
                    conn, token.source(), request_id_now(), error, 0, route="status"
                )
                raise
            await self.inbox.log(
                conn,
                token.source(),
                request_id_now(),
                "answered",
                200,
                0,
                None,
                route="status",
                result={"request_id": request_id, "status": found["status"]},
            )
        return RequestStatus(
            request_id=found["id"],
            integration=found["integration"],
            status=found["status"],
            items_received=found["items_received"],
            items_processed=found["items_processed"],
            items_failed=sum(1 for i in items if i.action == "failed"),
            create_time=found["create_time"],
            finish_time=found["finish_time"],
            items=items,
        )

    async def ping(self, *, project_token: str) -> str:
        """The token's workspace id; the ping is logged against the token."""
        async with wrap_exceptions(), self.pool.connection() as conn:
            token = await self._project_token(conn, project_token)
            await self.inbox.log(
                conn, token.source(), request_id_now(), "answered", 200, 0, None, route="ping"
            )
        return token.workspace_id

    # -- the form ---------------------------------------------------------------------------

    async def submit_form(self, form: FormSubmission) -> FormApplied | StreamSchema:
        """Write the planned record (matched on its unique fields) with its log line and
        record.* event in one transaction; the token's schema when the plan was made
        against another."""
        request_id = request_id_now()
        async with wrap_exceptions(), self.pool.connection() as conn:
            parsed = parse_token(CLIENT, form.client_token)
            if parsed is None:
                raise _bearer_problem("client token", "x-client-token: <client token>")
            found = await repo.row(conn, "client_token_auth", id=parsed.token_id)
            if not _secret_matches(found, parsed.secret) or found is None:
                raise ExternalUnauthorized("the client token (x-client-token) is not valid")
            if not found["active"]:
                raise ExternalUnauthorized("the client token (x-client-token) is revoked")
            workspace_id = str(found["workspace_id"])
            source = Source(
                INTEGRATION,
                "",
                "",
                found["id"],
                workspace_id,
                f"client_token:{found['id']}",
                found["rate_limit"],
                found["rate_window_seconds"],
            )
            try:
                _check_origin(form.origin, found["allowed_origins"])
                if not form.rejection and form.schema_version != found["schema_version"]:
                    # Nothing counted yet: the call that follows is the one that counts.
                    return StreamSchema(
                        found["schema_version"],
                        entity_type_of(found["entity_type"]),
                        found["default_region"],
                    )
                rate = await self.inbox.hit_rate_limit(conn, source)
                _refuse(form)
                assert form.record is not None
                async with conn.transaction():
                    outcome = await self.inbox.store._upsert(conn, workspace_id, form.record, "")
                    event_source = {
                        "type": FORM,
                        "id": found["id"],
                        "request_id": request_id,
                        "submission": form.submission,
                    }
                    await outbox.add_record_change(
                        conn, workspace_id, form.record, outcome, event_source
                    )
                    await self.inbox.log(
                        conn,
                        source,
                        request_id,
                        "answered",
                        200,
                        0,
                        None,
                        route=FORM,
                        result={"record": outcome.as_json(), "submission": form.submission},
                    )
                return FormApplied(outcome, rate)
            except InletError as error:
                await self.inbox.log_rejection(conn, source, request_id, error, 0, route=FORM)
                raise


def _secret_matches(found: dict[str, Any] | None, secret: str) -> bool:
    """Compared in constant time, and also for an unknown id, so both take the same time."""
    stored = bytes(found["secret_hash"]) if found else b"\0" * 32
    return hmac.compare_digest(token_hash(secret), stored) and found is not None


def _internal() -> InletError:
    return InletError("an unexpected error occurred", reason="INTERNAL_SERVER_ERROR")


def request_id_now() -> str:
    """The id of the request being served (its x-request-id)."""
    return logs.request_id.get()


def _document(body: bytes) -> Any:
    if not body.strip():
        message = "request body is empty: send a JSON value"
        raise InvalidArgument(
            message, reason=EMPTY_BODY, violations=[Violation("body", message, EMPTY_BODY)]
        )
    try:
        return exactjson.loads(body)
    except exactjson.DecodeError as error:
        message = f"request body is not valid JSON: {error}"
        raise InvalidArgument(
            message, reason=MALFORMED_JSON, violations=[Violation("body", message, MALFORMED_JSON)]
        ) from None


def _check_origin(origin: str, allowed: list[str]) -> None:
    if ANY_ORIGIN in allowed:
        return
    if not origin:
        raise OriginNotAllowed(
            "the Origin header is missing: this client token is for pages of " + ", ".join(allowed),
            violations=[Violation("Origin", "missing", "REQUIRED")],
        )
    if origin.strip().rstrip("/").lower() not in allowed:
        raise OriginNotAllowed(
            f"origin {origin[:200]!r} may not use this client token",
            violations=[Violation("Origin", "not an allowed origin", "ORIGIN_NOT_ALLOWED")],
        )


def _refuse(form: FormSubmission) -> None:
    """The matcher's verdict on the body, raised."""
    if form.rejection:
        if form.rejection_reason == PayloadTooLarge.reason:
            raise PayloadTooLarge(form.rejection)
        raise InvalidArgument(
            form.rejection,
            reason=form.rejection_reason or "INVALID_BODY",
            violations=form.violations,
        )
    if form.violations or form.record is None:
        names = ", ".join(v.field for v in form.violations)
        raise InvalidArgument(
            f"invalid form: {names}", reason=VALIDATION_FAILED, violations=form.violations
        )
