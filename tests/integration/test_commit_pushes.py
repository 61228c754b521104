"""StoreService.CommitPushes over real gRPC: several pushes in one call, each answered as
CommitPush would answer it alone, under its own request id."""

from __future__ import annotations

import secrets

import grpc
import pytest

from inlet.store.v1 import store_pb2, store_pb2_grpc
from inlet_common.channels import channel
from inlet_common.credentials import token_hash
from inlet_common.errors import reason_of
from inlet_devstack.demo import DemoSeed
from tests.integration.conftest import Servers


def contact(type_id: str, email: str, version: str, hashed: bytes) -> store_pb2.CommitPushRequest:
    request = store_pb2.CommitPushRequest(token_hash=hashed, schema_version=version)
    request.record.entity_type_id = type_id
    request.record.values.json = f'{{"email": "{email}"}}'
    request.record.unique_fields.append("email")
    request.record.key_values.append(email)
    return request


def call(push: store_pb2.CommitPushRequest, request_id: str) -> store_pb2.CommitPushCall:
    return store_pb2.CommitPushCall(push=push, request_id=request_id, client_request_id="crm-1")


async def test_each_push_of_a_call_gets_its_own_answer_and_log_entry(
    servers: Servers, seeded: DemoSeed
) -> None:
    hashed = token_hash(seeded.tokens["contact"])
    async with channel(servers.store_addr) as ch:
        store = store_pb2_grpc.StoreServiceStub(ch)
        cold = await store.CommitPushes(
            store_pb2.CommitPushesRequest(
                pushes=[call(store_pb2.CommitPushRequest(token_hash=hashed), "req_cold")]
            )
        )
        schema = cold.results[0].response.schema
        assert schema.version
        type_id = schema.entity_type.id
        email = f"{secrets.token_hex(4)}@acme.no"
        ids = [f"req_{secrets.token_hex(6)}" for _ in range(4)]
        answer = await store.CommitPushes(
            store_pb2.CommitPushesRequest(
                pushes=[
                    call(contact(type_id, email, schema.version, hashed), ids[0]),
                    # Planned against a schema that is not the current one: nothing done.
                    call(contact(type_id, "old@acme.no", "stale", hashed), ids[1]),
                    # An unknown token in the same call fails alone.
                    call(contact(type_id, "x@acme.no", schema.version, b"\0" * 32), ids[2]),
                    call(contact(type_id, email, schema.version, hashed), ids[3]),
                ]
            )
        )

    created, stale, unknown, again = answer.results
    assert created.response.record.action == "created"
    assert stale.response.schema.version == schema.version
    assert not stale.response.HasField("record")
    assert unknown.HasField("error")
    assert unknown.error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert reason_of(unknown.error) == "ENDPOINT_NOT_FOUND"
    # Same unique value as the first push of the call: the same record, matched on it.
    assert again.response.record.id == created.response.record.id
    assert again.response.record.action == "updated"
    async with servers.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT request_id, client_request_id, status_code FROM activity_entries"
            " WHERE request_id = ANY(%s) ORDER BY request_id",
            (ids,),
        )
        logged = await cur.fetchall()
    assert sorted(logged) == sorted([(ids[0], "crm-1", 200), (ids[3], "crm-1", 200)])


@pytest.mark.parametrize("count", [0, 257])
async def test_a_call_with_no_push_or_too_many_is_refused_naming_pushes(
    servers: Servers, seeded: DemoSeed, count: int
) -> None:
    hashed = token_hash(seeded.tokens["contact"])
    pushes = [call(store_pb2.CommitPushRequest(token_hash=hashed), "req_x")] * count
    async with channel(servers.store_addr) as ch:
        store = store_pb2_grpc.StoreServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await store.CommitPushes(store_pb2.CommitPushesRequest(pushes=pushes))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pushes" in (caught.value.details() or "")
