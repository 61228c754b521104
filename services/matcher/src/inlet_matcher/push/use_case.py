"""Endpoint push: validate and plan over the cached schema, then one store call that
authenticates, rate-limits, checks the Idempotency-Key and applies (or logs a refusal)."""

from __future__ import annotations

from dataclasses import dataclass

from inlet.store.v1 import store_pb2
from inlet_common import exactjson, idempotency
from inlet_common.credentials import token_hash
from inlet_common.errors import Aborted, InletError, describe
from inlet_common.httpstatus import http_status_of
from inlet_matcher.bodies import PushBody, push_body
from inlet_matcher.errors import EdgeRejected, PayloadTooLarge, ValidationFailed
from inlet_matcher.planner import plan_push
from inlet_matcher.push.schema_cache import PushSchemaCache
from inlet_matcher.store_client import StorePort

# A cold or stale schema costs one call; a schema changing under every call gives up.
_SCHEMA_ATTEMPTS = 3


class SchemaChanging(Aborted):
    reason = "SCHEMA_CHANGING"


@dataclass(frozen=True)
class EdgeError:
    """The gateway refused the body before it reached us; we still log the request."""

    reason: str
    message: str


@dataclass(frozen=True)
class Pushed:
    """A push's answer and the endpoint's rate-limit window after it."""

    applied: store_pb2.CommitPushResponse
    rate: store_pb2.RateLimitState


def _refusal(error: InletError, *, against_schema: bool) -> store_pb2.PushRefusal:
    return store_pb2.PushRefusal(
        status_code=http_status_of(error),
        outcome=exactjson.to_raw({"error": describe(error)}),
        against_schema=against_schema,
    )


class Ingest:
    def __init__(self, store: StorePort, schemas: PushSchemaCache | None = None) -> None:
        self.store = store
        self.schemas = schemas or PushSchemaCache()

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
        hashed = token_hash(token)
        cached = self.schemas.get(hashed)
        for _ in range(_SCHEMA_ATTEMPTS):
            request = store_pb2.CommitPushRequest(
                token_hash=hashed, idempotency_key=key, body_hash=digest
            )
            problem = refused
            if refused is not None:
                request.refusal.CopyFrom(_refusal(refused, against_schema=False))
            elif cached is not None and body is not None:
                request.schema_version = cached.schema.version
                try:
                    plan = plan_push(cached.schema, body.fields, body.related, shape=cached.shape)
                except ValidationFailed as error:
                    problem = error
                    request.refusal.CopyFrom(_refusal(error, against_schema=True))
                else:
                    request.record.CopyFrom(plan.record)
                    for slug, planned in plan.related.items():
                        request.related[slug].CopyFrom(planned)
            # Unknown or disabled token: NOT_FOUND; over the rate limit, a bad or reused key,
            # a conflict: refused (and logged) by the store; a stored answer is replayed.
            answer = await self.store.commit_push(request)
            if answer.HasField("schema"):
                cached = self.schemas.put(hashed, answer.schema)
                continue
            if answer.refused:
                assert problem is not None
                raise problem
            return Pushed(answer, answer.rate_limit)
        raise SchemaChanging(
            "the endpoint's entity type kept changing while the push was checked; retry it"
        )


def _edge(edge_error: EdgeError) -> InletError:
    if edge_error.reason == "PAYLOAD_TOO_LARGE":
        return PayloadTooLarge(edge_error.message)
    return EdgeRejected(edge_error.message, reason=edge_error.reason)
