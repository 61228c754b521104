"""Endpoint push through the full chain: HTTP → gateway → matcher → store → PostgreSQL."""

from __future__ import annotations

import httpx

from bench.cpu import CpuProbe
from bench.load import drive
from bench.scenario import OperationError, Result
from bench.workload import Workload

_HEADERS = {"content-type": "application/json"}


class EndpointPushChain:
    """POSTs each contact to the seeded endpoint over one keep-alive httpx client."""

    name = "full chain (HTTP)"

    def __init__(
        self, push_url: str, workload: Workload, *, concurrency: int, probe: CpuProbe | None = None
    ) -> None:
        self.push_url = push_url
        self.probe = probe
        self.concurrency = concurrency
        # Bodies are encoded up front so the client's JSON work is not in the timings.
        self.warmup = [c.body() for c in workload.warmup]
        self.measured = [c.body() for c in workload.measured]

    async def run(self) -> Result:
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        async with httpx.AsyncClient(limits=limits, timeout=30.0, headers=_HEADERS) as client:

            async def push(body: bytes) -> str:
                try:
                    reply = await client.post(self.push_url, content=body)
                except httpx.HTTPError as error:
                    raise OperationError(type(error).__name__) from None
                if reply.status_code != 200:
                    raise OperationError(f"HTTP {reply.status_code}")
                return str(reply.json()["record"]["action"])

            await drive(self.name, self.warmup, push, concurrency=self.concurrency)
            return await drive(
                self.name, self.measured, push, concurrency=self.concurrency, probe=self.probe
            )
