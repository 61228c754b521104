"""Endpoint push through the full chain: HTTP → gateway → matcher → store → PostgreSQL."""

from __future__ import annotations

import itertools

import aiohttp

from bench.cpu import CpuProbe
from bench.load import drive
from bench.scenario import OperationError, Result
from bench.workload import Workload

_HEADERS = {"content-type": "application/json"}


class EndpointPushChain:
    """POSTs each contact to the seeded endpoint over one keep-alive aiohttp session.

    aiohttp, not httpx: on 2 cores the load generator shares the CPU with the four
    services, and httpx spent ~5 ms of CPU per request at 64 connections (more than
    gateway, matcher and store together), so the chain's figures measured the client.
    """

    def __init__(
        self,
        push_url: str,
        workload: Workload,
        *,
        concurrency: int,
        probe: CpuProbe | None = None,
        idempotency_keys: bool = False,
        name: str | None = None,
    ) -> None:
        # With keys, every push carries a new Idempotency-Key: the cost of storing answers.
        default = "full chain + Idempotency-Key" if idempotency_keys else "full chain (HTTP)"
        self.name = name or default
        self.idempotency_keys = idempotency_keys
        self.push_url = push_url
        self.probe = probe
        self.concurrency = concurrency
        # Bodies are encoded up front so the client's JSON work is not in the timings.
        self.warmup = [c.body() for c in workload.warmup]
        self.measured = [c.body() for c in workload.measured]

    async def run(self) -> Result:
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=30.0)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers=_HEADERS
        ) as client:
            sent = itertools.count()

            async def push(body: bytes) -> str:
                headers = (
                    {"idempotency-key": f"bench-{next(sent)}"} if self.idempotency_keys else None
                )
                try:
                    async with client.post(self.push_url, data=body, headers=headers) as reply:
                        if reply.status != 200:
                            raise OperationError(f"HTTP {reply.status}")
                        answer = await reply.json()
                except (aiohttp.ClientError, TimeoutError) as error:
                    raise OperationError(type(error).__name__) from None
                return str(answer["record"]["action"])

            await drive(self.name, self.warmup, push, concurrency=self.concurrency)
            return await drive(
                self.name, self.measured, push, concurrency=self.concurrency, probe=self.probe
            )
