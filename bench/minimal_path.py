"""The minimal path: HTTP (the gateway's server library) → one gRPC call → one INSERT …
ON CONFLICT, as two processes on the same database. The floor for any HTTP → gRPC →
PostgreSQL design on this machine; endpoint push is read as a ratio against it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator

from bench.cpu import POSTGRES, CpuProbe
from bench.endpoint_push import EndpointPushChain
from bench.scenario import Result
from bench.workload import Workload

NAME = "minimal path (HTTP→gRPC→PG)"


async def _spawn(*args: str) -> tuple[asyncio.subprocess.Process, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.minimal_servers", *args, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    if not line:
        raise RuntimeError(f"minimal path {args[0]} server did not start")
    return process, int(line)


@contextlib.asynccontextmanager
async def _servers(database_url: str, pool_size: int) -> AsyncIterator[tuple[str, dict[str, int]]]:
    processes: list[asyncio.subprocess.Process] = []
    try:
        grpc_server, grpc_port = await _spawn("grpc", database_url, str(pool_size))
        processes.append(grpc_server)
        http_server, http_port = await _spawn("http", f"127.0.0.1:{grpc_port}")
        processes.append(http_server)
        pids = {"min-http": http_server.pid, "min-grpc": grpc_server.pid}
        yield f"http://127.0.0.1:{http_port}/", pids
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


class MinimalPath:
    name = NAME

    def __init__(
        self,
        database_url: str,
        workload: Workload,
        *,
        concurrency: int,
        pool_size: int,
        postgres: int | None = None,
    ) -> None:
        self.postgres = postgres
        self.database_url = database_url
        self.workload = workload
        self.concurrency = concurrency
        self.pool_size = pool_size

    async def run(self) -> Result:
        async with _servers(self.database_url, self.pool_size) as (url, pids):
            named = {"bench": os.getpid(), **pids}
            if self.postgres is not None:
                named[POSTGRES] = self.postgres
            probe = CpuProbe(named)
            chain = EndpointPushChain(url, self.workload, concurrency=self.concurrency, probe=probe)
            chain.name = self.name
            return await chain.run()
