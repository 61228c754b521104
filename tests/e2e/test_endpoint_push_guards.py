"""Endpoint push's Idempotency-Key replay and per-endpoint rate limit, over real HTTP
(DESIGN §1: every dialect gets both)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import httpx
import pytest
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet_devstack.demo import DemoSeed
from tests.messages import PROBLEM, activity, push_url, records
from tests.windows import steady_window

pytestmark = pytest.mark.e2e

if TYPE_CHECKING:
    # Only the .pyi knows the async stub's name.
    Admin = admin_pb2_grpc.AdminServiceAsyncStub


def keyed(key: str) -> dict[str, str]:
    return {"idempotency-key": key}


async def test_a_repeat_replays_the_stored_answer_and_changes_nothing(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: Admin
) -> None:
    body = {"fields": {"name": "Ola", "email": "ola@acme.no"}}
    first = await http.post(push_url(seeded, "contact"), json=body, headers=keyed("order-1"))
    assert first.status_code == 200, first.text
    assert "idempotency-replayed" not in first.headers
    before = await records(admin, seeded, "contact")
    # The same body, keys in another order and other whitespace: the same request.
    again = await http.post(
        push_url(seeded, "contact"),
        content=json.dumps({"fields": {"email": "ola@acme.no", "name": "Ola"}}, indent=2),
        headers={**keyed("order-1"), "content-type": "application/json"},
    )
    assert again.status_code == 200, again.text
    assert (
        again.json()
        == first.json()
        == {"record": {"id": first.json()["record"]["id"], "action": "created"}}
    )
    assert again.headers["idempotency-replayed"] == "true"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert await records(admin, seeded, "contact") == before  # not even update_time moved
    log = await activity(admin, seeded, "contact")
    assert [(e["status_code"], e["request_id"]) for e in log] == [
        (200, again.headers["x-request-id"]),
        (200, first.headers["x-request-id"]),
    ]
    assert log[0]["outcome"]["replay_of"] == first.headers["x-request-id"]


async def test_the_same_key_with_another_body_is_422_and_changes_nothing(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: Admin
) -> None:
    first = await http.post(
        push_url(seeded, "contact"), json={"fields": {"email": "a@acme.no"}}, headers=keyed("k")
    )
    assert first.status_code == 200
    before = await records(admin, seeded, "contact")
    other = await http.post(
        push_url(seeded, "contact"),
        json={"fields": {"email": "a@acme.no", "name": "Changed"}},
        headers=keyed("k"),
    )
    assert other.status_code == 422, other.text
    assert other.headers["content-type"].startswith(PROBLEM)
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert "Idempotency-Key" in other.json()["detail"]
    assert await records(admin, seeded, "contact") == before
    assert (await activity(admin, seeded, "contact"))[0]["status_code"] == 422


async def test_keys_are_per_endpoint(http: httpx.AsyncClient, seeded: DemoSeed) -> None:
    contact = await http.post(
        push_url(seeded, "contact"),
        json={"fields": {"email": "b@acme.no"}},
        headers=keyed("shared"),
    )
    deal = await http.post(
        push_url(seeded, "deal"), json={"fields": {"title": "Renewal"}}, headers=keyed("shared")
    )
    assert (contact.status_code, deal.status_code) == (200, 200), deal.text
    assert "idempotency-replayed" not in deal.headers
    assert deal.json()["record"]["action"] == "created"


async def test_a_failed_push_is_not_stored_so_the_fixed_body_can_reuse_its_key(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: Admin
) -> None:
    bad = await http.post(
        push_url(seeded, "contact"), json={"fields": {"email": "not-an-email"}}, headers=keyed("f")
    )
    assert bad.status_code == 400
    fixed = await http.post(
        push_url(seeded, "contact"), json={"fields": {"email": "c@acme.no"}}, headers=keyed("f")
    )
    assert fixed.status_code == 200, fixed.text
    assert "idempotency-replayed" not in fixed.headers
    assert len(await records(admin, seeded, "contact")) == 1


async def test_an_overlong_key_is_400_naming_the_header_and_nothing_is_written(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: Admin
) -> None:
    reply = await http.post(
        push_url(seeded, "contact"),
        json={"fields": {"email": "d@acme.no"}},
        headers=keyed("x" * 256),
    )
    assert reply.status_code == 400, reply.text
    problem = reply.json()
    assert problem["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert [e["field"] for e in problem["errors"]] == ["Idempotency-Key"]
    assert await records(admin, seeded, "contact") == []
    ok = await http.post(
        push_url(seeded, "contact"),
        json={"fields": {"email": "d@acme.no"}},
        headers=keyed("x" * 255),
    )
    assert ok.status_code == 200


async def test_concurrent_repeats_apply_once_and_all_get_the_first_answer(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: Admin
) -> None:
    body = {"fields": {"email": "race@acme.no"}}
    replies = await asyncio.gather(
        *(
            http.post(push_url(seeded, "contact"), json=body, headers=keyed("race"))
            for _ in range(20)
        )
    )
    assert {r.status_code for r in replies} == {200}, [r.text for r in replies]
    assert len({r.text for r in replies}) == 1  # every answer is the one that created it
    assert replies[0].json()["record"]["action"] == "created"
    assert sum("idempotency-replayed" not in r.headers for r in replies) == 1
    assert len(await records(admin, seeded, "contact")) == 1


async def limit_endpoint(admin: Admin, seed: DemoSeed, slug: str, limit: int) -> int:
    """Limit the endpoint to `limit` pushes in a window that cannot roll over during the
    test; that window's length."""
    window = steady_window()
    await admin.UpdateIngestEndpoint(
        admin_pb2.UpdateIngestEndpointRequest(
            ingest_endpoint=admin_pb2.IngestEndpoint(
                name=seed.endpoints[slug], rate_limit=limit, rate_window_seconds=window
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["rate_limit", "rate_window_seconds"]),
        ),
        metadata=seed.auth,
    )
    return window


async def test_over_the_rate_limit_is_429_with_headers_logged_and_nothing_written(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: Admin
) -> None:
    window = await limit_endpoint(admin, seeded, "contact", 3)
    answers = [
        await http.post(push_url(seeded, "contact"), json={"fields": {"email": f"r{n}@acme.no"}})
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429], answers[3].text
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["ratelimit-limit"] for a in answers} == {"3"}
    assert {a.headers["ratelimit-policy"] for a in answers} == {f"3;w={window}"}
    limited = answers[3]
    assert limited.headers["content-type"].startswith(PROBLEM)
    assert limited.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= window
    assert int(limited.headers["ratelimit-reset"]) == int(limited.headers["retry-after"])
    assert len(await records(admin, seeded, "contact")) == 3
    log = await activity(admin, seeded, "contact")
    assert log[0]["status_code"] == 429
    assert log[0]["outcome"]["error"]["code"] == "RATE_LIMITED"
    # Another endpoint of the same workspace has its own window.
    other = await http.post(push_url(seeded, "deal"), json={"fields": {"title": "Renewal"}})
    assert other.status_code == 200


async def test_an_idempotent_repeat_still_counts_against_the_limit(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: Admin
) -> None:
    await limit_endpoint(admin, seeded, "contact", 1)
    body = {"fields": {"email": "once@acme.no"}}
    first = await http.post(push_url(seeded, "contact"), json=body, headers=keyed("once"))
    repeat = await http.post(push_url(seeded, "contact"), json=body, headers=keyed("once"))
    assert (first.status_code, repeat.status_code) == (200, 429)
