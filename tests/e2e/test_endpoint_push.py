"""Endpoint push over real HTTP through gateway → matcher → store → PostgreSQL,
with the seed document's examples and its error table."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet_devstack.demo import DemoSeed
from tests.messages import PROBLEM, activity, push_url

pytestmark = pytest.mark.e2e


async def test_seed_example_contact_is_created_then_updated(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    body = {"fields": {"name": "Ola Nordmann", "email": "ola@acme.no", "phone": "+4799887766"}}
    first = await http.post(push_url(seeded, "contact"), json=body)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/json")
    assert first.headers["x-request-id"]
    record_id = first.json()["record"]["id"]
    assert first.json() == {"record": {"id": record_id, "action": "created"}}
    again = await http.post(
        push_url(seeded, "contact"),
        json={"fields": {"phone": "+47 998 87 766", "email": "OLA@acme.no"}},
    )
    assert again.json() == {
        "record": {"id": record_id, "action": "updated", "matched_on": ["email", "phone"]}
    }


async def test_seed_example_deal_with_related_contact(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    contact = await http.post(
        push_url(seeded, "contact"), json={"fields": {"name": "Ola", "email": "ola@acme.no"}}
    )
    reply = await http.post(
        push_url(seeded, "deal"),
        json={
            "fields": {"title": "Acme Renewal", "value": 50000},
            "related": {"contact": {"name": "Ola Nordmann", "email": "ola@acme.no"}},
        },
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body == {
        "record": {"id": body["record"]["id"], "action": "created"},
        "related": {
            "contact": {
                "id": contact.json()["record"]["id"],
                "action": "updated",
                "matched_on": ["email"],
            }
        },
    }


async def test_conflict_is_400_naming_fields_values_and_records(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: admin_pb2_grpc.AdminServiceAsyncStub
) -> None:
    a = (
        await http.post(push_url(seeded, "contact"), json={"fields": {"email": "a@acme.no"}})
    ).json()
    b = (
        await http.post(push_url(seeded, "contact"), json={"fields": {"phone": "99887766"}})
    ).json()
    reply = await http.post(
        push_url(seeded, "contact"),
        json={"fields": {"email": "A@acme.no", "phone": "+4799887766", "name": "changed"}},
    )
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith(PROBLEM)
    problem = reply.json()
    assert problem["code"] == "UNIQUE_CONFLICT"
    assert problem["status"] == 400
    assert {(c["field"], c["value"], tuple(c["record_ids"])) for c in problem["conflicts"]} == {
        ("email", "a@acme.no", (a["record"]["id"],)),
        ("phone", "+4799887766", (b["record"]["id"],)),
    }
    log = await activity(admin, seeded, "contact")
    assert log[0]["status_code"] == 400
    assert log[0]["request_id"] == reply.headers["x-request-id"]
    # Nothing changed: pushing a's e-mail alone still finds a, with no name set by the conflict.
    check = await http.post(push_url(seeded, "contact"), json={"fields": {"email": "a@acme.no"}})
    assert check.json()["record"]["id"] == a["record"]["id"]


@pytest.mark.parametrize(
    ("slug", "body", "field", "code"),
    [
        ("contact", {"fields": {"nick": "x"}}, "fields.nick", "UNKNOWN_FIELD"),
        ("contact", {"fields": {"name": ["x"]}}, "fields.name", "INVALID_TYPE"),
        ("contact", {"fields": {"email": "ola@"}}, "fields.email", "INVALID_EMAIL"),
        ("contact", {"fields": {"phone": "n/a"}}, "fields.phone", "INVALID_PHONE"),
        ("deal", {"fields": {"value": "lots"}}, "fields.value", "INVALID_TYPE"),
        ("deal", {"fields": {"value": 1}}, "fields.title", "REQUIRED_FIELD_MISSING"),
        (
            "deal",
            {"fields": {"title": "x"}, "related": {"org": {}}},
            "related.org",
            "UNKNOWN_RELATED",
        ),
        (
            "deal",
            {"fields": {"title": "x"}, "related": {"contact": {"email": "bad"}}},
            "related.contact.email",
            "INVALID_EMAIL",
        ),
    ],
)
async def test_validation_errors_name_the_field(
    http: httpx.AsyncClient,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    slug: str,
    body: dict[str, Any],
    field: str,
    code: str,
) -> None:
    reply = await http.post(push_url(seeded, slug), json=body)
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    problem = reply.json()
    # A value the planner judges is VALIDATION_FAILED; a record that would be created
    # without a required field is the store's own REQUIRED_FIELD_MISSING.
    top = "REQUIRED_FIELD_MISSING" if code == "REQUIRED_FIELD_MISSING" else "VALIDATION_FAILED"
    assert problem["code"] == top
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, code)]
    log = await activity(admin, seeded, slug)
    assert [(e["status_code"], e["request_id"]) for e in log] == [
        (400, reply.headers["x-request-id"])
    ]
    count = await http.post(push_url(seeded, "contact"), json={"fields": {"email": "probe@x.no"}})
    assert count.json()["record"]["action"] == "created"  # no contact was written before


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "MALFORMED_JSON"),
        (b"[1, 2]", "INVALID_BODY"),
        (b'{"fields": "x"}', "INVALID_BODY"),
        (b'{"fields": {}, "extra": 1}', "INVALID_BODY"),
    ],
)
async def test_malformed_bodies_are_400_and_logged(
    http: httpx.AsyncClient,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    raw: bytes,
    code: str,
) -> None:
    reply = await http.post(
        push_url(seeded, "contact"), content=raw, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    assert reply.json()["code"] == code
    assert reply.json()["detail"]
    log = await activity(admin, seeded, "contact")
    assert [e["status_code"] for e in log] == [400]


async def test_unknown_token_is_404(http: httpx.AsyncClient) -> None:
    reply = await http.post("/api/v1/ingest/iep_unknown", json={"fields": {}})
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith(PROBLEM)
    assert reply.json()["code"] == "ENDPOINT_NOT_FOUND"


async def test_disabled_endpoint_is_404_and_enabled_again_works(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: admin_pb2_grpc.AdminServiceAsyncStub
) -> None:
    async def set_enabled(enabled: bool) -> None:
        await admin.UpdateIngestEndpoint(
            admin_pb2.UpdateIngestEndpointRequest(
                ingest_endpoint=admin_pb2.IngestEndpoint(
                    name=seeded.endpoints["contact"], enabled=enabled
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
            ),
            metadata=seeded.auth,
        )

    await set_enabled(False)
    refused = await http.post(push_url(seeded, "contact"), json={"fields": {"name": "x"}})
    assert refused.status_code == 404
    assert refused.json()["code"] == "ENDPOINT_NOT_FOUND"  # same answer as an unknown token
    await set_enabled(True)
    reply = await http.post(push_url(seeded, "contact"), json={"fields": {"name": "x"}})
    assert reply.status_code == 200
    log = await activity(admin, seeded, "contact")
    assert [(e["status_code"], e["request_id"]) for e in log] == [
        (200, reply.headers["x-request-id"]),
        (404, refused.headers["x-request-id"]),
    ]
    assert log[1]["outcome"]["error"]["code"] == "ENDPOINT_DISABLED"


async def test_body_over_100_kb_is_413_before_parsing_and_logged(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: admin_pb2_grpc.AdminServiceAsyncStub
) -> None:
    big = b'{"fields": {"name": "' + b"x" * 110_000 + b'"}}'
    reply = await http.post(
        push_url(seeded, "contact"), content=big, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 413
    assert reply.json()["code"] == "PAYLOAD_TOO_LARGE"
    # Just under the cap is parsed (and fails only on its content length rules, not size).
    ok = await http.post(push_url(seeded, "contact"), json={"fields": {"name": "x" * 90_000}})
    assert ok.status_code == 200
    log = await activity(admin, seeded, "contact")
    assert [e["status_code"] for e in log] == [200, 413]


async def test_fifty_racing_pushes_over_http_make_one_record(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: admin_pb2_grpc.AdminServiceAsyncStub
) -> None:
    replies = await asyncio.gather(
        *(
            http.post(push_url(seeded, "contact"), json={"fields": {"email": "race@acme.no"}})
            for _ in range(50)
        )
    )
    assert {r.status_code for r in replies} == {200}
    bodies = [r.json()["record"] for r in replies]
    assert len({b["id"] for b in bodies}) == 1
    assert sorted(b["action"] for b in bodies) == ["created"] + ["updated"] * 49
    log = await activity(admin, seeded, "contact")
    assert len(log) == 50
