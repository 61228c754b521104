"""Faults and recovery: kill -9 of a service (its launcher restarts it), an immediate
PostgreSQL restart, and the seconds until the whole chain answers again."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from dataclasses import dataclass

import httpx

from bench.mixed.suite import MixedSuite
from inlet_devstack import postgres

SERVICES = ("store", "matcher", "notifier", "gateway")
POSTGRES = "postgres"


@dataclass(frozen=True)
class Recovery:
    fault: str
    seconds: float | None  # None: did not answer again within the deadline


def kill(suite: MixedSuite, service: str) -> int:
    """SIGKILL the service's process now; its pid."""
    pid = suite.stack.services[service].process.pid
    os.kill(pid, signal.SIGKILL)
    return pid


async def inject(suite: MixedSuite, fault: str) -> int | None:
    """Inject `fault`; the killed process's pid (None for PostgreSQL)."""
    if fault == POSTGRES:
        await asyncio.to_thread(postgres.restart, suite.server)
        return None
    return kill(suite, fault)


async def answers(client: httpx.AsyncClient, suite: MixedSuite) -> bool:
    """Whether the chain answers: a push is stored, and the notifier lists endpoints."""
    targets = suite.targets
    probe = f"probe-{secrets.token_hex(4)}@acme.no"
    try:
        pushed = await client.post(
            f"/api/v1/ingest/{targets.endpoint_token}",
            json={"fields": {"name": "Probe", "email": probe}},
        )
        listed = await client.get(
            f"/admin/v1/{suite.credentials.workspace}/webhookEndpoints",
            headers={"Authorization": f"Bearer {suite.credentials.admin_token}"},
        )
    except httpx.HTTPError:
        return False
    return pushed.status_code == 200 and listed.status_code == 200


async def recovery(suite: MixedSuite, fault: str, *, within: float) -> Recovery:
    """Inject `fault`, then poll until the chain answers again (or `within` passes)."""
    started = time.monotonic()
    killed = await inject(suite, fault)
    async with httpx.AsyncClient(base_url=suite.targets.gateway_url, timeout=2) as client:
        # A probe must not be answered by the dying process: wait for its successor.
        if killed is not None:
            await _replaced(suite, fault, killed, within)
        while time.monotonic() - started < within:
            if await answers(client, suite):
                return Recovery(fault, time.monotonic() - started)
            await asyncio.sleep(0.1)
    return Recovery(fault, None)


async def _replaced(suite: MixedSuite, service: str, killed: int, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        current = suite.stack.services.get(service)
        if current is not None and current.process.pid != killed:
            return
        await asyncio.sleep(0.05)
