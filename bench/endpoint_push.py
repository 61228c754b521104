"""Endpoint push through the full chain: HTTP → gateway → matcher → store → PostgreSQL."""

from __future__ import annotations

import itertools
from urllib.parse import urlsplit

import orjson

from bench.cpu import CpuProbe
from bench.httpclient import HttpClient, HttpError
from bench.load import drive
from bench.scenario import OperationError, Result
from bench.workload import Workload


class EndpointPushChain:
    """POSTs each contact to the seeded endpoint over keep-alive connections, one per push in
    flight (bench.httpclient: the load generator's own CPU is kept small)."""

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
        self.workload = workload

    async def run(self) -> Result:
        parts = urlsplit(self.push_url)
        client = HttpClient(f"{parts.scheme}://{parts.netloc}", connections=self.concurrency)
        keys = itertools.count()

        def request(body: bytes) -> bytes:
            headers = (("idempotency-key", f"bench-{next(keys)}"),) if self.idempotency_keys else ()
            return client.request_bytes(parts.path, body, headers)

        # Requests are encoded up front so the client's encoding is not in the timings.
        warmup = [request(contact.body()) for contact in self.workload.warmup]
        measured = [request(contact.body()) for contact in self.workload.measured]

        async def push(request: bytes) -> str:
            try:
                reply = await client.send(request)
            except HttpError as error:
                raise OperationError(type(error).__name__) from None
            if reply.status != 200:
                raise OperationError(f"HTTP {reply.status}")
            return str(orjson.loads(reply.body)["record"]["action"])

        try:
            await drive(self.name, warmup, push, concurrency=self.concurrency)
            return await drive(
                self.name, measured, push, concurrency=self.concurrency, probe=self.probe
            )
        finally:
            await client.aclose()
