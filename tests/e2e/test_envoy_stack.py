"""The whole suite with the Envoy edge beside the gateway (what `make run-envoy` starts):
every service is routed through Envoy, and its access log holds no credential."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.stack import Ports, Stack, running
from tests.polling import until

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
