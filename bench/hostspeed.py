"""How fast the host runs Python now: a fixed loop's time, printed beside the figures."""

from __future__ import annotations

import time

# On this VM the same code's figures move by a quarter or more from one hour to the next
# (no steal time shows); runs are comparable only beside a measure of the host itself.
LOOP_ADDITIONS = 10_000_000


def loop_seconds(additions: int = LOOP_ADDITIONS) -> float:
    """Seconds one core takes for `additions` integer additions in a Python loop."""
    if additions < 1:
        raise ValueError("additions must be positive")
    total = 0
    started = time.perf_counter()
    for number in range(additions):
        total += number
    elapsed = time.perf_counter() - started
    assert total == additions * (additions - 1) // 2
    return elapsed
