"""Push transfer in the store: authenticate the API key, accept a transfer durably, read it back."""

from __future__ import annotations

import logging
import re
from typing import Any

from psycopg import errors as pg
from psycopg_pool import AsyncConnectionPool

from inlet.store.v1 import store_pb2
from inlet_common import logs
from inlet_common.errors import InletError
from inlet_common.httpstatus import http_status_of
from inlet_store import apikeys, guards
from inlet_store import repository as repo
from inlet_store.apikeys import (
    InvalidTransfer,
    PushUnauthorized,
    TransferNotFound,
    TransferTooLarge,
)
from inlet_store.errors import wrap_exceptions
from inlet_store.streams import RequestIdInUse, secret_matches
from inlet_store.transfer_requests import (
    Accepted,
    ApiKey,
    TransferData,
    TransferRequest,
    invalid_message,
    session_problems,
)

log = logging.getLogger(__name__)


_SESSION_ID = re.compile(r"^[0-9a-f]{24}$")
WEBHOOK_KINDS = ("data", "completed", "error")


class Transfers:
    """Accepting transfers and reading their results, over one pool."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], *, idempotency_ttl_seconds: int = 86400
    ) -> None:
        self.pool = pool
        self.idempotency_ttl_seconds = idempotency_ttl_seconds

    async def authenticate(self, conn: repo.Conn, api_key: str) -> ApiKey:
        parsed = apikeys.parse_key(api_key)
        if parsed is None:
            raise PushUnauthorized(
                "missing or malformed API key: send 'Authorization: Bearer ak_…'"
            )
        found = await repo.row(conn, "api_key_auth", id=parsed.key_id)
        # The secret is compared even for an unknown id, so both take the same time.
        stored = bytes(found["secret_hash"]) if found else b"\0" * 32
        if not secret_matches(parsed.secret, stored) or found is None:
            raise PushUnauthorized("the API key is not valid")
        if not found["active"]:
            raise PushUnauthorized("the API key is revoked or expired")
        return ApiKey(
            id=found["id"],
            workspace_id=str(found["workspace_id"]),
            rate_limit=found["rate_limit"],
            rate_window_seconds=found["rate_window_seconds"],
        )

    # -- accept ---------------------------------------------------------------------------

    async def accept(self, request_id: str, request: TransferRequest) -> Accepted:
        """Store the transfer (committed) before answering; see the RPC comment."""
        async with wrap_exceptions(), self.pool.connection() as conn:
            key = await self.authenticate(conn, request.api_key)
            session: dict[str, Any] | None = None
            try:
                rate = await guards.hit_rate_limit(
                    conn,
                    f"apikey:{key.id}",
                    limit=key.rate_limit,
                    window_seconds=key.rate_window_seconds,
                )
                if request.rejection:
                    if request.rejection_reason == TransferTooLarge.reason:
                        raise TransferTooLarge(request.rejection)
                    raise InvalidTransfer(request.rejection)
                # Read first, so that every refusal below is in the session's log.
                session = await self._session(conn, key, request.session_id)
                guards.check_idempotency_key(request.idempotency_key, InvalidTransfer)
                problems = list(request.violations) + session_problems(session, request)
                if problems:
                    raise InvalidTransfer(invalid_message(tuple(problems)), violations=problems)
                assert session is not None
                return await self._store(conn, key, rate, session, request_id, request)
            except InletError as error:
                if session is not None:
                    await self._log_rejection(conn, key, session["id"], request_id, error, request)
                raise

    @staticmethod
    async def _session(conn: repo.Conn, key: ApiKey, session_id: str) -> dict[str, Any] | None:
        """The named session of the key's workspace with its types; None when none is."""
        if not _SESSION_ID.match(session_id):
            return None
        found = await repo.rows(
            conn, "session_for_transfer", id=session_id, workspace_id=key.workspace_id
        )
        if not found:
            return None
        head = dict(found[0])
        head["types"] = [r["endgrate_type"] for r in found if r["endgrate_type"]]
        return head

    async def _store(
        self,
        conn: repo.Conn,
        key: ApiKey,
        rate: store_pb2.RateLimitState,
        session: dict[str, Any],
        request_id: str,
        request: TransferRequest,
    ) -> Accepted:
        transfer_id = apikeys.new_transfer_id()
        webhooks = {
            kind: request.webhooks.get(kind) or session[f"{kind}_webhook"]
            for kind in WEBHOOK_KINDS
            if request.webhooks.get(kind) or session[f"{kind}_webhook"]
        }
        async with conn.transaction():
            if request.idempotency_key:
                claimed = await repo.row(
                    conn,
                    "claim_push_idempotency_key",
                    workspace_id=key.workspace_id,
                    idempotency_key=request.idempotency_key,
                    body_hash=request.body_hash,
                    transfer_id=transfer_id,
                    ttl=self.idempotency_ttl_seconds,
                )
                if claimed is None:
                    return await self._replay(conn, key, rate, session, request_id, request)
            try:
                await self._insert(conn, key, session, transfer_id, webhooks, request_id, request)
            except pg.UniqueViolation as error:
                if error.diag.table_name != "stream_requests":
                    raise
                # Only a direct gRPC caller can send an id twice (the edge makes a new one
                # for every request); the first request keeps it.
                raise RequestIdInUse(
                    f"request id {request_id!r} (x-request-id) was used by another request;"
                    " send a new one, or none"
                ) from error
            await self._log(
                conn,
                key,
                session["id"],
                request_id,
                "accepted",
                200,
                len(request.items),
                transfer_id=transfer_id,
            )
        return Accepted(transfer_id, False, rate, len(request.items))

    @staticmethod
    async def _insert(
        conn: repo.Conn,
        key: ApiKey,
        session: dict[str, Any],
        transfer_id: str,
        webhooks: dict[str, Any],
        request_id: str,
        request: TransferRequest,
    ) -> None:
        """The transfer and its request in the inbox, where the workers find it."""
        async with conn.transaction():
            await repo.execute(
                conn,
                "insert_push_transfer",
                id=transfer_id,
                workspace_id=key.workspace_id,
                session_id=session["id"],
                api_key_id=key.id,
                request_id=request_id,
                endgrate_type=request.endgrate_type,
                items=repo.json(request.items),
                items_received=len(request.items),
                webhooks=repo.json(webhooks),
                disable_upsert=request.disable_upsert,
                sample_data=request.sample_data,
                webhook_concurrency=request.webhook_concurrency,
            )

    async def _replay(
        self,
        conn: repo.Conn,
        key: ApiKey,
        rate: store_pb2.RateLimitState,
        session: dict[str, Any],
        request_id: str,
        request: TransferRequest,
    ) -> Accepted:
        """The first transfer's answer to a repeat of its key with the same body; another
        body is refused (nothing of it is stored)."""
        held = await repo.row(
            conn,
            "get_push_idempotency_key",
            workspace_id=key.workspace_id,
            idempotency_key=request.idempotency_key,
        )
        if held is None:
            # Expired between the claim and this read: the caller may simply retry.
            raise guards.IdempotencyKeyReused(self.idempotency_ttl_seconds)
        if bytes(held["body_hash"]) != request.body_hash:
            raise guards.IdempotencyKeyReused(self.idempotency_ttl_seconds)
        await self._log(
            conn,
            key,
            session["id"],
            request_id,
            "replayed",
            200,
            held["items_received"],
            transfer_id=held["transfer_id"],
            replay_of=held["request_id"],
        )
        return Accepted(held["transfer_id"], True, rate, held["items_received"])

    async def _log(
        self,
        conn: repo.Conn,
        key: ApiKey,
        session_id: str,
        request_id: str,
        outcome: str,
        status_code: int,
        items_received: int,
        *,
        transfer_id: str | None = None,
        error: dict[str, Any] | None = None,
        replay_of: str | None = None,
    ) -> None:
        await repo.execute(
            conn,
            "insert_push_log",
            session_id=session_id,
            api_key_id=key.id,
            request_id=request_id,
            client_request_id=logs.client_request_id.get(),
            transfer_id=transfer_id,
            outcome=outcome,
            status_code=status_code,
            items_received=items_received,
            error=repo.jsonb(error) if error is not None else None,
            replay_of=replay_of,
        )

    async def _log_rejection(
        self,
        conn: repo.Conn,
        key: ApiKey,
        session_id: str,
        request_id: str,
        error: InletError,
        request: TransferRequest,
    ) -> None:
        body: dict[str, Any] = {"code": error.reason, "message": error.message}
        if error.violations:
            body["fields"] = [v.as_json() for v in error.violations]
        try:
            async with wrap_exceptions():
                await self._log(
                    conn,
                    key,
                    session_id,
                    request_id,
                    "rejected",
                    http_status_of(error),
                    len(request.items),
                    error=body,
                )
        except InletError:
            # The caller still gets the real error; the lost log line is reported here.
            log.warning("could not write push log entry", exc_info=True)

    # -- returned data ----------------------------------------------------------------------

    async def data(
        self, *, api_key: str, transfer_id: str, summary_only: bool = False
    ) -> TransferData:
        async with wrap_exceptions(), self.pool.connection() as conn:
            key = await self.authenticate(conn, api_key)
            found = (
                await repo.row(
                    conn, "get_push_transfer", id=transfer_id, workspace_id=key.workspace_id
                )
                if _SESSION_ID.match(transfer_id)
                else None
            )
            if found is None:
                raise TransferNotFound(f"no transfer {transfer_id!r}")
            items = (
                []
                if summary_only
                else await repo.rows(conn, "push_transfer_items", transfer_id=transfer_id)
            )
        return TransferData(
            transfer_id=found["id"],
            session_id=found["session_id"],
            endgrate_type=found["endgrate_type"],
            status=found["status"],
            items_received=found["items_received"],
            items_processed=found["items_processed"],
            create_time=found["create_time"],
            finish_time=found["finish_time"],
            items=items,
        )
