"""The matcher's use cases: endpoint push (validate, plan, apply, log what happened)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from inlet.store.v1 import store_pb2
from inlet_common import exactjson, idempotency, logs
from inlet_common.errors import InletError, conflicts_of, violations_of
from inlet_common.httpstatus import http_status_of
from inlet_matcher.bodies import PushBody, push_body
from inlet_matcher.errors import EdgeRejected, PayloadTooLarge
from inlet_matcher.planner import plan_push
from inlet_matcher.store_client import StorePort

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdgeError:
    """The gateway refused the body before it reached us; we still log the request."""

    reason: str
    message: str


@dataclass(frozen=True)
class Pushed:
    """A push's answer and the endpoint's rate-limit window after it."""

    applied: store_pb2.ApplyPlanResponse
    rate: store_pb2.RateLimitState


class Ingest:
    def __init__(self, store: StorePort) -> None:
        self.store = store

    async def push_endpoint(
        self,
        token: str,
        data: bytes,
        *,
        idempotency_key: str = "",
        edge_error: EdgeError | None = None,
    ) -> Pushed:
        body: PushBody | None = None
        refused: InletError | None = _edge(edge_error) if edge_error is not None else None
        if refused is None:
            try:
                body = push_body(data)
            except InletError as error:
                refused = error  # raised after the token check: an unknown token is 404
        # A refused body has no meaning to compare, so no key is looked up.
        key = idempotency_key if body is not None else ""
        digest = idempotency.body_hash(body.canonical()) if body is not None and key else b""
        # Unknown or disabled token: NOT_FOUND; over the rate limit, a bad or reused key:
        # refused (and logged) by the store; a stored answer comes back to be replayed.
        endpoint = await self.store.resolve_endpoint(
            store_pb2.ResolveEndpointRequest(token=token, idempotency_key=key, body_hash=digest)
        )
        if endpoint.HasField("replay"):
            return Pushed(endpoint.replay, endpoint.rate_limit)
        request_id = logs.request_id.get()
        try:
            if refused is not None:
                raise refused
            assert body is not None
            plan = plan_push(endpoint, body.fields, body.related)
            applied = await self.store.apply_plan(
                store_pb2.ApplyPlanRequest(
                    workspace_id=endpoint.workspace_id,
                    endpoint_id=endpoint.endpoint_id,
                    request_id=request_id,
                    record=plan.record,
                    related=plan.related,
                    idempotency_key=key,
                    body_hash=digest,
                )
            )
        except InletError as error:
            await self._log_failure(endpoint.endpoint_id, request_id, error)
            raise
        return Pushed(applied, endpoint.rate_limit)

    async def _log_failure(self, endpoint_id: str, request_id: str, error: InletError) -> None:
        try:
            await self.store.record_activity(
                store_pb2.RecordActivityRequest(
                    endpoint_id=endpoint_id,
                    request_id=request_id,
                    status_code=http_status_of(error),
                    outcome=exactjson.to_raw({"error": describe(error)}),
                )
            )
        except InletError:
            # The caller still gets the real error; the lost log line is reported here.
            log.warning("could not write activity log entry", exc_info=True)


def _edge(edge_error: EdgeError) -> InletError:
    if edge_error.reason == "PAYLOAD_TOO_LARGE":
        return PayloadTooLarge(edge_error.message)
    return EdgeRejected(edge_error.message, reason=edge_error.reason)


def describe(error: InletError) -> dict[str, Any]:
    """An error as the activity log keeps it: code, message, fields and conflicts."""
    status = error.to_status()
    body: dict[str, Any] = {"code": error.reason, "message": status.message}
    violations = violations_of(status)
    if violations:
        body["errors"] = [v.as_json() for v in violations]
    conflicts = conflicts_of(status)
    if conflicts:
        body["conflicts"] = conflicts
    return body
