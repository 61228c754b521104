"""Every documented endpoint-push error code, sent as bad input over real HTTP through the
gateway, matcher and store: its status, its problem+json code, the field it names, and
nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet.type.v1 import entity_pb2
from inlet_devstack.demo import DemoSeed
from tests.messages import PROBLEM, activity, push_url, records

pytestmark = pytest.mark.e2e

T = entity_pb2


async def add_field(
    admin: admin_pb2_grpc.AdminServiceAsyncStub, seed: DemoSeed, type_slug: str, field: Any
) -> None:
    await admin.CreateField(
        admin_pb2.CreateFieldRequest(
            parent=f"{seed.workspace}/entityTypes/{type_slug}", field=field
        ),
        metadata=seed.auth,
    )


async def refused(
    http: httpx.AsyncClient,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    seed: DemoSeed,
    body: dict[str, Any],
) -> dict[str, Any]:
    """POST `body` to the deal endpoint: a 400 problem, logged; its document."""
    reply = await http.post(push_url(seed, "deal"), json=body)
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    problem: dict[str, Any] = reply.json()
    assert problem["status"] == 400
    assert problem["request_id"] == reply.headers["x-request-id"]
    log = await activity(admin, seed, "deal")
    assert (log[0]["status_code"], log[0]["request_id"]) == (400, reply.headers["x-request-id"])
    return problem


async def contact_id(http: httpx.AsyncClient, seed: DemoSeed) -> str:
    made = await http.post(push_url(seed, "contact"), json={"fields": {"email": "o@acme.no"}})
    assert made.status_code == 200, made.text
    return str(made.json()["record"]["id"])


async def test_invalid_datetime(
    http: httpx.AsyncClient, admin: admin_pb2_grpc.AdminServiceAsyncStub, seeded: DemoSeed
) -> None:
    await add_field(admin, seeded, "deal", T.Field(slug="closes_at", type=T.FIELD_TYPE_DATETIME))
    problem = await refused(
        http, admin, seeded, {"fields": {"title": "Renewal", "closes_at": "next tuesday"}}
    )
    assert problem["code"] == "VALIDATION_FAILED"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("fields.closes_at", "INVALID_DATETIME")
    ]
    assert "next tuesday" in problem["errors"][0]["message"]
    assert await records(admin, seeded, "deal") == []


async def test_invalid_reference(
    http: httpx.AsyncClient, admin: admin_pb2_grpc.AdminServiceAsyncStub, seeded: DemoSeed
) -> None:
    problem = await refused(
        http, admin, seeded, {"fields": {"title": "Renewal", "contact": "ola@acme.no"}}
    )
    assert problem["code"] == "VALIDATION_FAILED"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("fields.contact", "INVALID_REFERENCE")
    ]
    assert await records(admin, seeded, "deal") == []


async def test_conflicting_reference(
    http: httpx.AsyncClient, admin: admin_pb2_grpc.AdminServiceAsyncStub, seeded: DemoSeed
) -> None:
    contact = await contact_id(http, seeded)
    body = {
        "fields": {"title": "Renewal", "contact": contact},
        "related": {"contact": {"email": "o@acme.no"}},
    }
    problem = await refused(http, admin, seeded, body)
    assert problem["code"] == "VALIDATION_FAILED"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("related.contact", "CONFLICTING_REFERENCE")
    ]
    assert await records(admin, seeded, "deal") == []


async def test_nested_reference_unsupported(
    http: httpx.AsyncClient, admin: admin_pb2_grpc.AdminServiceAsyncStub, seeded: DemoSeed
) -> None:
    await add_field(
        admin,
        seeded,
        "contact",
        T.Field(slug="employer", type=T.FIELD_TYPE_REFERENCE, reference_entity_type="company"),
    )
    body = {
        "fields": {"title": "Renewal"},
        "related": {"contact": {"email": "n@acme.no", "employer": str(uuid.uuid4())}},
    }
    problem = await refused(http, admin, seeded, body)
    assert problem["code"] == "VALIDATION_FAILED"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("related.contact.employer", "NESTED_REFERENCE_UNSUPPORTED")
    ]
    assert await records(admin, seeded, "deal") == []
    # Nor was the related contact written.
    assert await records(admin, seeded, "contact") == []


async def test_unknown_reference(
    http: httpx.AsyncClient, admin: admin_pb2_grpc.AdminServiceAsyncStub, seeded: DemoSeed
) -> None:
    missing = str(uuid.uuid4())
    problem = await refused(
        http, admin, seeded, {"fields": {"title": "Renewal", "contact": missing}}
    )
    assert problem["code"] == "UNKNOWN_REFERENCE"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("fields.contact", "UNKNOWN_REFERENCE")
    ]
    assert missing in problem["errors"][0]["message"]
    assert await records(admin, seeded, "deal") == []


async def test_a_record_of_another_type_is_an_unknown_reference(
    http: httpx.AsyncClient, admin: admin_pb2_grpc.AdminServiceAsyncStub, seeded: DemoSeed
) -> None:
    # A real record id, but of the wrong type (a deal is not a contact).
    deal = await http.post(push_url(seeded, "deal"), json={"fields": {"title": "Other"}})
    problem = await refused(
        http,
        admin,
        seeded,
        {"fields": {"title": "Renewal", "contact": deal.json()["record"]["id"]}},
    )
    assert problem["code"] == "UNKNOWN_REFERENCE"
    assert [e["field"] for e in problem["errors"]] == ["fields.contact"]


async def test_unknown_query_parameter_is_refused_at_the_edge_naming_it(
    http: httpx.AsyncClient, admin: admin_pb2_grpc.AdminServiceAsyncStub, seeded: DemoSeed
) -> None:
    # The real chain: the gateway refuses it, the matcher checks the token and logs it.
    reply = await http.post(
        push_url(seeded, "deal") + "?dry_run=1", json={"fields": {"title": "Renewal"}}
    )
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    problem = reply.json()
    assert problem["code"] == "INVALID_QUERY"
    assert "dry_run" in problem["detail"]
    log = await activity(admin, seeded, "deal")
    assert [e["status_code"] for e in log] == [400]
    assert await records(admin, seeded, "deal") == []
