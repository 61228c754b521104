"""StoreService.CommitPush(es): protobuf ↔ domain only; the work is in PushCommitter."""

from __future__ import annotations

import asyncio
import logging

from google.rpc import status_pb2

from inlet.store.v1 import store_pb2
from inlet.type.v1 import result_pb2
from inlet_common import logs
from inlet_common.errors import InvalidArgument
from inlet_store import batched
from inlet_store.domain import Outcome
from inlet_store.push.repository import Schema
from inlet_store.push.use_case import Planned, PushCommand, PushCommitter, Refusal
from inlet_store.schema_pb import entity_type_pb

log = logging.getLogger(__name__)

# What one CommitPushes call may carry (the proto says so).
MAX_PUSHES_PER_CALL = 256
# Each push of a CommitPushes call is logged and traced as the CommitPush it stands for.
_COMMIT_PUSH = "/inlet.store.v1.StoreService/CommitPush"


def planned_of(p: store_pb2.PlannedRecord) -> Planned:
    return Planned(
        entity_type_id=p.entity_type_id,
        values_json=p.values.json,
        unique_fields=tuple(p.unique_fields),
        key_values=tuple(p.key_values),
        missing_required=tuple(p.missing_required),
        references=dict(p.references),
    )


def command_of(request: store_pb2.CommitPushRequest) -> PushCommand:
    refusal = request.refusal if request.HasField("refusal") else None
    return PushCommand(
        token_hash=request.token_hash,
        schema_version=request.schema_version,
        request_id=logs.request_id.get(),
        client_request_id=logs.client_request_id.get(),
        idempotency_key=request.idempotency_key,
        body_hash=request.body_hash,
        record=planned_of(request.record) if request.HasField("record") else None,
        related=tuple((slug, planned_of(p)) for slug, p in request.related.items()),
        refusal=(
            Refusal(refusal.status_code, refusal.outcome.json, refusal.against_schema)
            if refusal is not None
            else None
        ),
    )


def schema_pb(schema: Schema) -> store_pb2.PushSchema:
    found = schema.endpoint
    return store_pb2.PushSchema(
        version=schema.version,
        workspace_id=found.workspace_id,
        endpoint_id=found.id,
        default_region=found.default_region,
        entity_type=entity_type_pb(found.entity_type),
        referenced_types={slug: entity_type_pb(t) for slug, t in found.referenced.items()},
    )


def _outcome_pb(o: Outcome) -> result_pb2.EntityResult:
    return result_pb2.EntityResult(id=o.id, action=o.action, matched_on=list(o.matched_on))


async def commit_push(
    committer: PushCommitter, request: store_pb2.CommitPushRequest
) -> store_pb2.CommitPushResponse:
    outcome = await committer.commit(command_of(request))
    if outcome.schema is not None:
        return store_pb2.CommitPushResponse(schema=schema_pb(outcome.schema))
    response = store_pb2.CommitPushResponse(refused=outcome.refused, rate_limit=outcome.rate)
    applied = outcome.applied
    if applied is not None:
        response.record.CopyFrom(_outcome_pb(applied.record))
        for slug, related in applied.related.items():
            response.related[slug].CopyFrom(_outcome_pb(related))
        response.replayed = applied.replayed
    return response


async def commit_pushes(
    committer: PushCommitter, request: store_pb2.CommitPushesRequest
) -> store_pb2.CommitPushesResponse:
    """Each push as CommitPush would commit it, all at once (so they share group commits)."""
    if not request.pushes or len(request.pushes) > MAX_PUSHES_PER_CALL:
        raise InvalidArgument(
            f"pushes: 1 to {MAX_PUSHES_PER_CALL} pushes per call, got {len(request.pushes)}",
            reason="INVALID_BATCH",
        )
    results = await asyncio.gather(*(_commit_call(committer, call) for call in request.pushes))
    return store_pb2.CommitPushesResponse(results=results)


async def _commit_call(
    committer: PushCommitter, call: store_pb2.CommitPushCall
) -> store_pb2.CommitPushResult:
    answer = await batched.run_call(
        _COMMIT_PUSH,
        call.request_id,
        call.client_request_id,
        call.traceparent,
        lambda: commit_push(committer, call.push),
    )
    if isinstance(answer, status_pb2.Status):
        return store_pb2.CommitPushResult(error=answer)
    return store_pb2.CommitPushResult(response=answer)
