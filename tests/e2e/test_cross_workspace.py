"""One workspace's credentials never reach another's data, over HTTP in every dialect: an
admin token on another workspace's endpoint is 403, and an ingest key, project token or
API key asking for another workspace's request or transfer finds nothing (404, as for an
id that does not exist: nothing says it exists elsewhere)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc, push_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.stack import Stack
from tests import external_support as ext
from tests.messages import PROBLEM, bearer_header, key_headers
from tests.push_support import push_session, seed_body
from tests.stream_support import sales_stream

pytestmark = pytest.mark.e2e


async def other_workspace(stack: Stack) -> demo.DemoSeed:
    async with channel(stack.address("store")) as ch:
        return await demo.seed(
            admin_pb2_grpc.AdminServiceStub(ch),
            bootstrap_token=stack.bootstrap_token,
            workspace_slug=f"x{secrets.token_hex(6)}",
        )


@pytest.fixture
async def store(stack: Stack) -> AsyncIterator[Any]:
    async with channel(stack.address("store")) as ch:
        yield ch


async def test_an_admin_token_on_another_workspaces_endpoint_is_403(
    http: httpx.AsyncClient, seeded: demo.DemoSeed, stack: Stack
) -> None:
    other = await other_workspace(stack)
    for path in (
        f"/admin/v1/{other.endpoints['contact']}",
        f"/admin/v1/{other.endpoints['contact']}/activityEntries",
        f"/admin/v1/{other.workspace}/ingestEndpoints",
    ):
        reply = await http.get(path, headers=bearer_header(seeded.admin_token))
        assert reply.status_code == 403, (path, reply.text)
        assert reply.headers["content-type"].startswith(PROBLEM)
        assert reply.json()["code"] == "WRONG_WORKSPACE"
    rotate = await http.post(
        f"/admin/v1/{other.endpoints['contact']}:rotateToken",
        headers=bearer_header(seeded.admin_token),
        json={},
    )
    assert rotate.status_code == 403, rotate.text
    # The other workspace's token still pushes: nothing was rotated.
    pushed = await http.post(
        f"/api/v1/ingest/{other.tokens['contact']}", json={"fields": {"email": "x@acme.no"}}
    )
    assert pushed.status_code == 200, pushed.text


async def test_stream_and_integration_credentials_see_only_their_workspace(
    http: httpx.AsyncClient, seeded: demo.DemoSeed, stack: Stack, store: Any
) -> None:
    other = await other_workspace(stack)
    admin = admin_pb2_grpc.AdminServiceStub(store)
    streams = streams_pb2_grpc.StreamAdminServiceStub(store)
    mine = await sales_stream(admin, streams, seeded)
    theirs = await sales_stream(admin, streams, other)
    accepted = await http.post(
        "/api/ingest", json={"region": "North"}, headers=key_headers(theirs.key)
    )
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["data"]["request_id"]
    status = await http.get(f"/api/ingest/requests/{request_id}", headers=key_headers(mine.key))
    assert status.status_code == 404, status.text
    assert status.json()["success"] is False
    # Naming another workspace's stream with one's own key is no way in either.
    named = await http.post(
        "/api/ingest",
        json={"region": "South"},
        headers=key_headers(mine.key, **{"X-Stream": theirs.slug}),
    )
    assert named.status_code == 404, named.text  # mine has no such stream
    integrations = ext.stub(store)
    await ext.integration(integrations, other, "crm", "GENERIC", "contact")
    their_token = await ext.project_token(integrations, other)
    my_token = await ext.project_token(integrations, seeded)
    ingested = await http.post(
        "/api/v1/external/data-ingestion/crm",
        json={"email": "y@acme.no"},
        headers=their_token.headers(),
    )
    assert ingested.status_code == 202, ingested.text
    refused = await http.post(
        "/api/v1/external/data-ingestion/crm",
        json={"email": "y@acme.no"},
        headers=my_token.headers(),
    )
    assert refused.status_code == 404, refused.text
    assert refused.json()["code"] == "INTEGRATION_NOT_FOUND"
    peek = await http.get(
        f"/api/v1/external/data-ingestion/requests/{ext.request_id_of(ingested)}",
        headers=my_token.headers(),
    )
    assert peek.status_code == 404, peek.text


async def test_a_push_api_key_sees_only_its_workspaces_transfers(
    http: httpx.AsyncClient, seeded: demo.DemoSeed, stack: Stack, store: Any
) -> None:
    other = await other_workspace(stack)
    push_admin = push_pb2_grpc.PushAdminServiceStub(store)
    theirs = await push_session(push_admin, other)
    mine = await push_session(push_admin, seeded)
    sent = await http.post(
        "/api/push/transfer", json=seed_body(theirs.session_id), headers=theirs.headers()
    )
    assert sent.status_code == 200, sent.text
    transfer_id = sent.json()["transfer_id"]
    peek = await http.get(
        "/api/push/data", params={"transfer_id": transfer_id}, headers=mine.headers()
    )
    assert peek.status_code == 404, peek.text
    assert peek.json()["success"] is False
    # Their session with my key: refused naming the session, nothing transferred.
    crossed = await http.post(
        "/api/push/transfer", json=seed_body(theirs.session_id), headers=mine.headers()
    )
    assert crossed.status_code == 400, crossed.text
    assert crossed.json()["code"] == "INVALID_TRANSFER"
    assert [d["field"] for d in crossed.json()["details"]] == ["session_id"]
