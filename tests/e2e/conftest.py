"""End-to-end fixtures: the whole suite as processes, driven over HTTP."""

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


@pytest.fixture(scope="session")
async def stack(database_url: str) -> AsyncIterator[Stack]:
    log_dir = Path(tempfile.mkdtemp(prefix="inlet-e2e-logs-"))
    async with running(database_url, ports=Ports(0, 0, 0, 0), log_dir=log_dir) as started:
        yield started


@pytest.fixture(scope="session")
async def admin(stack: Stack) -> AsyncIterator[admin_pb2_grpc.AdminServiceAsyncStub]:
    async with channel(stack.address("store")) as ch:
        yield admin_pb2_grpc.AdminServiceStub(ch)


@pytest.fixture(scope="session")
async def streams_admin(
    stack: Stack,
) -> AsyncIterator[streams_pb2_grpc.StreamAdminServiceAsyncStub]:
    async with channel(stack.address("store")) as ch:
        yield streams_pb2_grpc.StreamAdminServiceStub(ch)


@pytest.fixture
async def seeded(admin: admin_pb2_grpc.AdminServiceAsyncStub, stack: Stack) -> demo.DemoSeed:
    return await demo.seed(
        admin, bootstrap_token=stack.bootstrap_token, workspace_slug=f"e{secrets.token_hex(6)}"
    )


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=stack.gateway_url, limits=limits, timeout=30) as client:
        yield client
