"""The whole suite with the Envoy edge beside the gateway (what `make run-envoy` starts):
every service is routed through Envoy, and its access log holds no credential."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.ports import Ports
from inlet_devstack.stack import Stack, running
from tests.feed_support import Events, fed_stream, read_headers
from tests.messages import key_headers
from tests.polling import until
from tests.stream_support import SEED_BATCH

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def edged(database_url: str) -> AsyncIterator[tuple[Stack, Path]]:
    log_dir = Path(tempfile.mkdtemp(prefix="inlet-e2e-envoy-"))
    async with running(database_url, ports=Ports(0, 0, 0, 0, envoy=0), log_dir=log_dir) as stack:
        yield stack, log_dir


@pytest.fixture
async def seed(edged: tuple[Stack, Path]) -> demo.DemoSeed:
    stack, _ = edged
    async with channel(stack.address("store")) as ch:
        return await demo.seed(
            admin_pb2_grpc.AdminServiceStub(ch),
            bootstrap_token=stack.bootstrap_token,
            workspace_slug=f"v{secrets.token_hex(6)}",
        )


async def test_every_service_answers_through_envoy(
    edged: tuple[Stack, Path], seed: demo.DemoSeed
) -> None:
    stack, log_dir = edged
    assert stack.envoy_url is not None
    token = seed.tokens["contact"]
    auth = {"authorization": seed.auth[0][1]}
    async with httpx.AsyncClient(base_url=stack.envoy_url, timeout=10) as http:
        health = await http.get("/healthz")
        assert health.status_code == 200, (health.status_code, health.text, health.headers)
        assert health.json() == {"status": "ok"}
        pushed = await http.post(
            f"/api/v1/ingest/{token}",
            content=b'{"fields": {"email": "envoy@acme.no", "name": "E", "n": 1}}',
            headers={"content-type": "application/json"},
        )
        # An unknown field: refused by the matcher, through Envoy, naming the field.
        assert pushed.status_code == 400, pushed.text
        pushed = await http.post(
            f"/api/v1/ingest/{token}", json={"fields": {"email": "envoy@acme.no"}}
        )
        assert pushed.status_code == 200, pushed.text
        record_id = pushed.json()["record"]["id"]
        record = await http.get(
            f"/admin/v1/{seed.workspace}/entityTypes/contact/records/{record_id}", headers=auth
        )
        assert record.status_code == 200, record.text
        # Values themselves differ between the edges until the admin reads return their
        # own rendering (README: "Envoy"); the record is the same.
        assert record.json()["record"]["id"] == record_id
        streams = await http.get(f"/admin/v1/{seed.workspace}/streams", headers=auth)
        assert streams.status_code == 200, streams.text
        hooks = await http.get(f"/admin/v1/{seed.workspace}/webhookEndpoints", headers=auth)
        assert hooks.status_code == 200, hooks.text

    async def logged() -> str | None:
        text = (log_dir / "envoy.log").read_text()
        return text if "webhookEndpoints" in text else None

    text = await until(logged)
    assert "/api/v1/ingest/{token}" in text
    assert token not in text
    assert seed.auth[0][1].removeprefix("Bearer ") not in text


async def test_a_streams_items_and_feed_through_envoy(
    edged: tuple[Stack, Path], seed: demo.DemoSeed
) -> None:
    stack, _ = edged
    assert stack.envoy_url is not None
    async with channel(stack.address("store")) as ch:
        fed = await fed_stream(
            admin_pb2_grpc.AdminServiceStub(ch), streams_pb2_grpc.StreamAdminServiceStub(ch), seed
        )
    path = f"/api/streams/{fed.sales.slug}"
    async with (
        httpx.AsyncClient(base_url=stack.envoy_url, timeout=30) as http,
        http.stream("GET", f"{path}/feed", headers=read_headers(fed.read_key)) as feed,
    ):
        assert feed.status_code == 200
        assert feed.headers["content-type"] == "text/event-stream; charset=utf-8"
        # The feed's twin renders its Server-Sent Events: the gateway's, `id:` lines too.
        events = Events(feed)
        first = await events.next()
        assert first is not None
        assert first.comment == "heartbeat 0"
        pushed = await http.post(
            "/api/ingest",
            json=SEED_BATCH,
            headers=key_headers(fed.sales.key, **{"X-Item-Key": "region"}),
        )
        assert pushed.status_code == 202, pushed.text
        changes = await events.changes(3)
        assert [c.json()["item_key"] for c in changes] == ["North", "South", "East"]
        assert [c.id for c in changes] == ["1", "2", "3"]
        items = await http.get(f"{path}/items", headers=read_headers(fed.read_key))
        assert items.status_code == 200, items.text
        assert [i["item_key"] for i in items.json()["items"]] == ["East", "North", "South"]
