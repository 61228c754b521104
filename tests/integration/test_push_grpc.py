"""Endpoint push over real gRPC: matcher → store → PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import admin_pb2
from inlet.type.v1 import problem_pb2
from inlet_common.errors import reason_of, status_from_rpc_error, unpack, violations_of
from inlet_devstack.demo import DemoSeed
from tests.integration.conftest import Servers
from tests.messages import activity, push, push_request


async def push_error(servers: Servers, token: str, body: dict[str, Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await servers.ingest.PushEndpoint(push_request(token, body))
    return caught.value


async def count_records(servers: Servers, seed: DemoSeed, type_slug: str) -> int:
    async with servers.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM records r JOIN entity_types t ON t.id = r.entity_type_id"
            " JOIN workspaces w ON w.id = t.workspace_id"
            " WHERE t.slug = %s AND ('workspaces/' || w.id) = %s",
            (type_slug, seed.workspace),
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_create_then_update_on_unique_email(servers: Servers, seeded: DemoSeed) -> None:
    token = seeded.tokens["contact"]
    body = {"fields": {"name": "Ola Nordmann", "email": "ola@acme.no", "phone": "+4799887766"}}
    first = await push(servers.ingest, token, body)
    assert first == {"record": {"id": first["record"]["id"], "action": "created"}}
    second = await push(
        servers.ingest, token, {"fields": {"email": " OLA@Acme.NO ", "name": "Ola N."}}
    )
    assert second == {
        "record": {"id": first["record"]["id"], "action": "updated", "matched_on": ["email"]}
    }
    assert await count_records(servers, seeded, "contact") == 1


@pytest.mark.parametrize("written", ["+47 998 87 766", "0047 99887766", "99887766"])
async def test_phone_variants_match_with_region(
    servers: Servers, seeded: DemoSeed, written: str
) -> None:
    token = seeded.tokens["contact"]
    created = await push(servers.ingest, token, {"fields": {"phone": "+4799887766"}})
    again = await push(servers.ingest, token, {"fields": {"phone": written}})
    assert again["record"] == {
        "id": created["record"]["id"],
        "action": "updated",
        "matched_on": ["phone"],
    }


async def test_related_contact_is_matched_and_linked(servers: Servers, seeded: DemoSeed) -> None:
    contact = await push(
        servers.ingest, seeded.tokens["contact"], {"fields": {"email": "ola@acme.no"}}
    )
    result = await push(
        servers.ingest,
        seeded.tokens["deal"],
        {
            "fields": {"title": "Acme Renewal", "value": 50000},
            "related": {"contact": {"name": "Ola Nordmann", "email": "ola@acme.no"}},
        },
    )
    assert result["record"]["action"] == "created"
    assert result["related"] == {
        "contact": {"id": contact["record"]["id"], "action": "updated", "matched_on": ["email"]}
    }
    async with servers.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT data FROM records WHERE id = %s", (result["record"]["id"],)
        )
        row = await cur.fetchone()
    assert row is not None
    assert row[0] == {"title": "Acme Renewal", "value": 50000, "contact": contact["record"]["id"]}


async def test_conflicting_unique_fields_change_nothing(servers: Servers, seeded: DemoSeed) -> None:
    token = seeded.tokens["contact"]
    a = await push(servers.ingest, token, {"fields": {"email": "a@acme.no", "name": "A"}})
    b = await push(servers.ingest, token, {"fields": {"phone": "+4799887766", "name": "B"}})
    error = await push_error(
        servers, token, {"fields": {"email": "a@acme.no", "phone": "99887766", "name": "X"}}
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    status = status_from_rpc_error(error)
    assert reason_of(status) == "UNIQUE_CONFLICT"
    (conflict,) = unpack(status, problem_pb2.UniqueConflict)
    assert isinstance(conflict, problem_pb2.UniqueConflict)
    assert conflict.entity == "record"
    assert {(m.field, m.value, tuple(m.record_ids)) for m in conflict.matches} == {
        ("email", "a@acme.no", (a["record"]["id"],)),
        ("phone", "+4799887766", (b["record"]["id"],)),
    }
    async with servers.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT data->>'name' FROM records WHERE id = ANY(%s) ORDER BY data->>'name'",
            ([a["record"]["id"], b["record"]["id"]],),
        )
        names = [r[0] for r in await cur.fetchall()]
    assert names == ["A", "B"]
    log = await activity(servers.admin, seeded, "contact")
    assert log[0]["status_code"] == 400
    assert log[0]["outcome"]["error"]["code"] == "UNIQUE_CONFLICT"
    assert len(log[0]["outcome"]["error"]["conflicts"]) == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"fields": {"nickname": "x"}}, {("fields.nickname", "UNKNOWN_FIELD")}),
        ({"fields": {"email": "not-an-email"}}, {("fields.email", "INVALID_EMAIL")}),
        ({"fields": {"phone": "n/a"}}, {("fields.phone", "INVALID_PHONE")}),  # no digits
        ({}, {("fields", "EMPTY_PUSH")}),
        ({"fields": None}, {("fields", "EMPTY_PUSH")}),
        ({"fields": {}}, {("fields", "EMPTY_PUSH")}),
        ({"fields": {"name": 42}}, {("fields.name", "INVALID_TYPE")}),
        (
            {"fields": {"email": "x", "name": True}},
            {("fields.email", "INVALID_EMAIL"), ("fields.name", "INVALID_TYPE")},
        ),
        (
            {"fields": {}, "related": {"company": {"name": "x"}}},
            {("related.company", "UNKNOWN_RELATED")},
        ),
    ],
)
async def test_bad_contact_input_names_each_field(
    servers: Servers, seeded: DemoSeed, body: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    error = await push_error(servers, seeded.tokens["contact"], body)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_from_rpc_error(error)
    assert {(v.field, v.reason) for v in violations_of(status)} == expected
    assert await count_records(servers, seeded, "contact") == 0
    log = await activity(servers.admin, seeded, "contact")
    assert log[0]["status_code"] == 400
    assert {e["field"] for e in log[0]["outcome"]["error"]["errors"]} == {f for f, _ in expected}


async def test_failure_after_related_write_rolls_everything_back(
    servers: Servers, seeded: DemoSeed
) -> None:
    # The deal has no title (required), so it fails in the store after the related
    # contact was written in the same transaction: the contact must not survive.
    error = await push_error(
        servers,
        seeded.tokens["deal"],
        {"fields": {"value": 5}, "related": {"contact": {"email": "new@acme.no"}}},
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_from_rpc_error(error)
    assert [(v.field, v.reason) for v in violations_of(status)] == [
        ("fields.title", "REQUIRED_FIELD_MISSING")
    ]
    assert await count_records(servers, seeded, "contact") == 0
    assert await count_records(servers, seeded, "deal") == 0


async def test_unknown_and_disabled_tokens_are_not_found(
    servers: Servers, seeded: DemoSeed
) -> None:
    error = await push_error(servers, "iep_nope", {"fields": {}})
    assert error.code() == grpc.StatusCode.NOT_FOUND
    await servers.admin.UpdateIngestEndpoint(
        admin_pb2.UpdateIngestEndpointRequest(
            ingest_endpoint=admin_pb2.IngestEndpoint(
                name=seeded.endpoints["contact"], enabled=False
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        ),
        metadata=seeded.auth,
    )
    error = await push_error(servers, seeded.tokens["contact"], {"fields": {"name": "x"}})
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(status_from_rpc_error(error)) == "ENDPOINT_NOT_FOUND"


async def test_fifty_racing_pushes_make_one_record(servers: Servers, seeded: DemoSeed) -> None:
    token = seeded.tokens["contact"]
    results = await asyncio.gather(
        *(
            push(servers.ingest, token, {"fields": {"email": "race@acme.no", "name": f"n{i}"}})
            for i in range(50)
        )
    )
    actions = sorted(r["record"]["action"] for r in results)
    assert actions == ["created"] + ["updated"] * 49
    assert len({r["record"]["id"] for r in results}) == 1
    assert await count_records(servers, seeded, "contact") == 1
    log = await activity(servers.admin, seeded, "contact")
    assert len(log) == 50
    assert all(entry["status_code"] == 200 for entry in log)
