"""The matcher's endpoint push over a fake store: one call per push, a cold or stale schema
costs one more, a refusal is sent to be logged and then raised."""

from __future__ import annotations

import pytest

from inlet.store.v1 import store_pb2
from inlet_common.credentials import token_hash
from inlet_common.exactjson import from_raw
from inlet_matcher.errors import ValidationFailed
from inlet_matcher.push.use_case import EdgeError, Ingest
from tests.unit.test_planner import CONTACT

SCHEMA = store_pb2.PushSchema(
    version="v2", workspace_id="w", endpoint_id="e", default_region="NO", entity_type=CONTACT
)


class FakeStore:
    """CommitPush as the store answers it: the schema for another version, else applied
    (or, with a refusal, logged)."""

    def __init__(self, schema: store_pb2.PushSchema = SCHEMA) -> None:
        self.schema = schema
        self.calls: list[store_pb2.CommitPushRequest] = []

    async def commit_push(
        self, request: store_pb2.CommitPushRequest
    ) -> store_pb2.CommitPushResponse:
        self.calls.append(request)
        rate = store_pb2.RateLimitState(limit=10, remaining=9, reset_seconds=5, window_seconds=60)
        refusal = request.refusal if request.HasField("refusal") else None
        if (refusal is None or refusal.against_schema) and request.schema_version != (
            self.schema.version
        ):
            return store_pb2.CommitPushResponse(schema=self.schema)
        if refusal is not None:
            return store_pb2.CommitPushResponse(refused=True, rate_limit=rate)
        answer = store_pb2.CommitPushResponse(rate_limit=rate)
        answer.record.id, answer.record.action = "r1", "created"
        return answer


async def test_a_cold_cache_costs_one_call_then_every_push_is_one() -> None:
    store = FakeStore()
    ingest = Ingest(store)
    body = b'{"fields": {"name": "Ola", "email": "OLA@acme.no"}}'
    first = await ingest.push_endpoint("iep_secret", body)
    assert first.applied.record.action == "created"
    assert [c.schema_version for c in store.calls] == ["", "v2"]
    planned = store.calls[1]
    assert planned.token_hash == token_hash("iep_secret")
    assert from_raw(planned.record.values) == {"name": "Ola", "email": "ola@acme.no"}
    assert list(planned.record.unique_fields) == ["email"]
    assert list(planned.record.key_values) == ["ola@acme.no"]
    await ingest.push_endpoint("iep_secret", body)
    assert len(store.calls) == 3


async def test_a_stale_schema_is_planned_again_never_sent_twice_stale() -> None:
    store = FakeStore()
    ingest = Ingest(store)
    await ingest.push_endpoint("iep_secret", b'{"fields": {"name": "a"}}')
    # The entity type changed: email is no longer unique.
    fields = [f for f in CONTACT.fields if f.slug != "email"]
    changed = store_pb2.PushSchema(version="v3", entity_type=CONTACT)
    del changed.entity_type.fields[:]
    changed.entity_type.fields.extend(fields)
    store.schema = changed
    pushed = await ingest.push_endpoint("iep_secret", b'{"fields": {"name": "b"}}')
    assert pushed.applied.record.id == "r1"
    assert [c.schema_version for c in store.calls] == ["", "v2", "v2", "v3"]


async def test_an_invalid_push_is_sent_as_a_refusal_against_the_schema_then_raised() -> None:
    store = FakeStore()
    ingest = Ingest(store)
    with pytest.raises(ValidationFailed):
        await ingest.push_endpoint("iep_secret", b'{"fields": {"nope": 1}}')
    refusal = store.calls[-1].refusal
    assert refusal.against_schema
    assert refusal.status_code == 400
    assert from_raw(refusal.outcome)["error"]["errors"][0]["field"] == "fields.nope"
    assert not store.calls[-1].HasField("record")


async def test_a_body_the_edge_refused_needs_no_schema_and_no_key() -> None:
    store = FakeStore()
    ingest = Ingest(store)
    with pytest.raises(Exception, match="too large"):
        await ingest.push_endpoint(
            "iep_secret",
            b"",
            idempotency_key="k",
            edge_error=EdgeError("PAYLOAD_TOO_LARGE", "body too large"),
        )
    [call] = store.calls
    assert call.schema_version == ""
    assert not call.refusal.against_schema
    assert call.idempotency_key == ""
