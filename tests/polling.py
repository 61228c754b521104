"""Waiting for asynchronous work in tests: poll a condition with a deadline, never sleep."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def until(
    check: Callable[[], Awaitable[T | None]],
    *,
    within: float = ...,
    what: str = ...,
    every: float = ...,
) -> T: ...


@overload
async def until(
    check: Callable[[], T | None],
    *,
    within: float = ...,
    what: str = ...,
    every: float = ...,
) -> T: ...


async def until(
    check: Callable[[], Any],
    *,
    within: float = 15.0,
    what: str = "condition",
    every: float = 0.02,
) -> Any:
    """Poll `check()` (sync or async) every `every` seconds until it returns something
    truthy, and return that; fail naming `what` once `within` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)
