"""The admin API says which requests wrote a record (endpoint pushes, as the record or a
related one, and stream items) and sums up each dialect's traffic: over HTTP through the
gateway, paged, replays left out, another workspace refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests.polling import until
from tests.stream_support import SalesStream, sales_stream

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def streams_admin(stack: Stack) -> AsyncIterator[Any]:
    async with channel(stack.address("store")) as ch:
        yield streams_pb2_grpc.StreamAdminServiceStub(ch)


@pytest.fixture
async def sales(
    admin: admin_pb2_grpc.AdminServiceAsyncStub, streams_admin: Any, seeded: DemoSeed
) -> SalesStream:
    return await sales_stream(admin, streams_admin, seeded)


def bearer(seed: DemoSeed) -> dict[str, str]:
    return {"Authorization": f"Bearer {seed.admin_token}"}


async def push(http: httpx.AsyncClient, token: str, body: Any, **headers: str) -> dict[str, Any]:
    answer = await http.post(f"/api/v1/ingest/{token}", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    result["request_id"] = answer.headers["x-request-id"]
    return result


async def test_endpoint_pushes_that_wrote_a_record_newest_first_and_paged(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    contact = {"name": "Kari", "email": "kari@acme.no"}
    first = await push(http, seeded.tokens["contact"], {"fields": contact})
    record_id = first["record"]["id"]
    second = await push(
        http, seeded.tokens["contact"], {"fields": {"email": "KARI@acme.no", "name": "K"}}
    )
    # The same contact as the related record of a deal.
    deal = await push(
        http,
        seeded.tokens["deal"],
        {"fields": {"title": "Renewal"}, "related": {"contact": {"email": "kari@acme.no"}}},
    )
    # A replay changes nothing, so it is not listed; another contact's push neither.
    await push(
        http, seeded.tokens["deal"], {"fields": {"title": "Renewal"}}, **{"Idempotency-Key": "k1"}
    )
    await push(http, seeded.tokens["contact"], {"fields": {"email": "other@acme.no"}})
    again = await http.post(
        f"/api/v1/ingest/{seeded.tokens['contact']}",
        json={"fields": {"email": "kari@acme.no"}},
        headers={"Idempotency-Key": "k2"},
    )
    replayed = await http.post(
        f"/api/v1/ingest/{seeded.tokens['contact']}",
        json={"fields": {"email": "kari@acme.no"}},
        headers={"Idempotency-Key": "k2"},
    )
    assert replayed.headers["idempotency-replayed"] == "true"

    path = f"/admin/v1/{seeded.workspace}/entityTypes/contact/records/{record_id}/requests"
    seen: list[dict[str, Any]] = []
    token = ""
    while True:
        page = await http.get(
            path, params={"page_size": 2, "page_token": token}, headers=bearer(seeded)
        )
        assert page.status_code == 200, page.text
        seen.extend(page.json().get("record_requests", []))
        token = page.json().get("next_page_token", "")
        if not token:
            break
    assert [(r["request_id"], r["entity"], r["action"]) for r in seen] == [
        (again.headers["x-request-id"], "record", "updated"),
        (deal["request_id"], "related.contact", "updated"),
        (second["request_id"], "record", "updated"),
        (first["request_id"], "record", "created"),
    ]
    assert {r["dialect"] for r in seen} == {"endpoint_push"}
    assert seen[1]["source"] == seeded.endpoints["deal"]
    assert seen[3]["source"] == seeded.endpoints["contact"]


async def test_stream_items_that_wrote_a_record(
    http: httpx.AsyncClient, seeded: DemoSeed, sales: SalesStream
) -> None:
    headers = {"Authorization": f"Bearer {sales.key}", "X-Item-Key": "region"}
    accepted = []
    for revenue in (1, 2):
        answer = await http.post(
            "/api/ingest", json=[{"region": "West", "revenue": revenue}], headers=headers
        )
        assert answer.status_code == 202, answer.text
        accepted.append(answer.json()["data"]["request_id"])

    async def processed() -> list[dict[str, Any]] | None:
        listed = await http.get(
            f"/admin/v1/{seeded.workspace}/entityTypes/sales/records", headers=bearer(seeded)
        )
        records = [
            r for r in listed.json().get("records", []) if r["values"].get("region") == "West"
        ]
        return records if records and records[0]["values"]["revenue"] == 2 else None

    (record,) = await until(processed)
    got = await http.get(f"/admin/v1/{record['name']}/requests", headers=bearer(seeded))
    assert got.status_code == 200, got.text
    assert [
        (r["request_id"], r["dialect"], r["entity"], r["action"], r["source"])
        for r in got.json()["record_requests"]
    ] == [
        (accepted[1], "stream_ingest", "items[0]", "updated", sales.name),
        (accepted[0], "stream_ingest", "items[0]", "created", sales.name),
    ]


async def test_record_requests_refuse_a_foreign_workspace_and_bad_tokens(
    http: httpx.AsyncClient,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    stack: Stack,
    seeded: DemoSeed,
) -> None:
    made = await push(http, seeded.tokens["contact"], {"fields": {"email": "own@acme.no"}})
    path = f"/admin/v1/{seeded.workspace}/entityTypes/contact/records/{made['record']['id']}"
    other = await demo.seed(
        admin, bootstrap_token=stack.bootstrap_token, workspace_slug="zz" + made["record"]["id"][:8]
    )
    foreign = await http.get(f"{path}/requests", headers=bearer(other))
    assert foreign.status_code == 403, foreign.text
    # The other workspace's own path to a record it does not have: 404, nothing leaks.
    elsewhere = path.replace(seeded.workspace, other.workspace)
    assert (await http.get(f"{elsewhere}/requests", headers=bearer(other))).status_code == 404
    bad = await http.get(
        f"{path}/requests", params={"page_token": "bm9wZQ=="}, headers=bearer(seeded)
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "page_token"


async def test_activity_summary_per_dialect(
    http: httpx.AsyncClient, seeded: DemoSeed, sales: SalesStream
) -> None:
    path = f"/admin/v1/{seeded.workspace}:summarizeActivity"
    empty = await http.get(path, headers=bearer(seeded))
    assert empty.status_code == 200, empty.text
    before = {d["dialect"]: d for d in empty.json()["dialects"]}
    assert set(before) == {"endpoint_push", "stream_ingest"}
    assert before["endpoint_push"]["source_count"] == 2
    await push(http, seeded.tokens["contact"], {"fields": {"email": "sum@acme.no"}})
    bad = await http.post(
        f"/api/v1/ingest/{seeded.tokens['contact']}", json={"fields": {"email": "nope"}}
    )
    assert bad.status_code == 400
    refused = await http.post(
        "/api/ingest",
        content=b"{",
        headers={"Authorization": f"Bearer {sales.key}", "Content-Type": "application/json"},
    )
    assert refused.status_code == 400
    after = {
        d["dialect"]: d for d in (await http.get(path, headers=bearer(seeded))).json()["dialects"]
    }
    push_delta = int(after["endpoint_push"]["request_count"]) - int(
        before["endpoint_push"].get("request_count", 0)
    )
    assert push_delta == 2
    assert (
        int(after["endpoint_push"]["error_count"])
        - int(before["endpoint_push"].get("error_count", 0))
        == 1
    )
    assert int(after["stream_ingest"]["error_count"]) >= 1
    assert after["endpoint_push"]["last_request_time"]
    future = await http.get(
        path, params={"start_time": "2999-01-01T00:00:00Z"}, headers=bearer(seeded)
    )
    assert future.status_code == 400
    assert future.json()["errors"][0]["field"] == "start_time"
