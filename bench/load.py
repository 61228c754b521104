"""The closed-loop driver: N workers keep `concurrency` operations in flight, timing each."""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from bench.cpu import CpuProbe
from bench.scenario import OperationError, Result

T = TypeVar("T")


async def drive(
    name: str,
    operations: Sequence[T],
    call: Callable[[T], Awaitable[str]],
    *,
    concurrency: int,
    probe: CpuProbe | None = None,
) -> Result:
    """Run `call` on every operation in order, `concurrency` at a time.

    `call` returns an outcome label (counted) or raises OperationError (counted as an
    error, its latency left out of the percentiles).
    """
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(operations):
            operation = operations[next_index]
            next_index += 1
            started = time.perf_counter()
            try:
                outcome = await call(operation)
            except OperationError as error:
                errors[error.kind] += 1
                continue
            latencies.append(time.perf_counter() - started)
            outcomes[outcome] += 1

    # What the generator holds by now (bodies, sessions, earlier rows' results) is left out
    # of its collections, so a full collection here does not stall every request in flight
    # and count as the service's latency.
    gc.collect()
    gc.freeze()
    before = probe.snapshot() if probe else None
    started = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(operations))):
                group.create_task(worker())
    finally:
        gc.unfreeze()
    elapsed = time.perf_counter() - started
    cpu = probe.since(before, probe.snapshot()) if probe and before else None
    return Result(name, len(operations), elapsed, latencies, errors, outcomes, cpu)
