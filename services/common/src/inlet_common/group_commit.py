"""Group commit: concurrent submissions applied together, each answered on its own.

A lone submission is flushed at once (on the event loop's next turn); whatever arrives
while a batch is being applied forms the next batch. The window thus adapts to the load:
nothing waits for a timer, and a batch is as large as what came in during the last one.
The store commits pushes this way; the matcher sends them to the store this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# What a flush answers for each item: its result, or the error to raise to its submitter.
Flush = Callable[[list[T]], Awaitable[list[R | Exception]]]


class GroupCommit(Generic[T, R]):
    def __init__(self, flush: Flush[T, R], *, max_batch: int = 128) -> None:
        self._flush = flush
        self.max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running is None:
            self._running = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                taken = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                # A submitter that gave up before its batch started is left out: nothing
                # of it happens. Once in a batch, it is applied whatever the caller does.
                batch = [(item, future) for item, future in taken if not future.done()]
                if batch:
                    await self._apply(batch)
        finally:
            self._running = None

    async def _apply(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except Exception as error:  # noqa: BLE001 - every submitter is told, none hangs
            results = [error] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
