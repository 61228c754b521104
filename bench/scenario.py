"""What a benchmark scenario is and what it yields: a named async run returning a Result."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from bench.cpu import Usage


class OperationError(Exception):
    """One operation failed; `kind` is how it is counted (e.g. "HTTP 500", "UniqueViolation")."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True)
class Result:
    """The measured part of one scenario run (warm-up excluded)."""

    name: str
    operations: int
    elapsed: float  # seconds, wall clock, first start to last finish
    latencies: list[float]  # seconds, successful operations only
    errors: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)  # e.g. created / updated
    cpu: Usage | None = None  # CPU spent while measuring, when a probe was given

    @property
    def throughput(self) -> float:
        """Operations per second, failed ones included."""
        return self.operations / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def percentile(self, p: int) -> float:
        """The p-th percentile latency in milliseconds (NaN when nothing succeeded)."""
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0] * 1000
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[p - 1] * 1000


class Scenario(Protocol):
    """A benchmark line: warms itself up, then measures; `name` labels its table row."""

    name: str

    async def run(self) -> Result: ...
