"""The soak run: the mixed load for a long while, sampled per interval (throughput, p99,
each service's RSS), with growth flagged, then the ledger's verdict."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.mixed.ledger import Ledger, Verdict
from bench.mixed.load import MixedLoad, Sample
from bench.mixed.suite import MixedSuite
from bench.mixed.verify import settle

# Growth past both bounds, from the second interval (the first warms up) to the last.
RSS_GROWTH_RATIO = 1.25
RSS_GROWTH_MIB = 30.0
P99_GROWTH_RATIO = 2.0


@dataclass(frozen=True)
class Interval:
    index: int
    acknowledged: int
    seconds: float
    p99_ms: float
    rss_mib: dict[str, float]
    delivered: int = 0  # webhook requests the receiver got in the interval

    @property
    def deliveries_per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def throughput(self) -> float:
        return self.acknowledged / self.seconds if self.seconds else 0.0


@dataclass
class SoakReport:
    intervals: list[Interval]
    verdict: Verdict
    flags: list[str] = field(default_factory=list)
    # Seconds from the end of the load until every acknowledged item's event had arrived
    # (None: not within the wait).
    drained_after: float | None = None

    def render(self) -> str:
        names = sorted({n for i in self.intervals for n in i.rss_mib})
        head = f"{'interval':>8} {'req/s':>8} {'p99 ms':>8} {'hooks/s':>8} " + " ".join(
            f"{n + ' MiB':>13}" for n in names
        )
        lines = ["soak:", head]
        for i in self.intervals:
            rss = " ".join(f"{i.rss_mib.get(n, 0.0):>13.1f}" for n in names)
            lines.append(
                f"{i.index:>8} {i.throughput:>8.1f} {i.p99_ms:>8.1f}"
                f" {i.deliveries_per_second:>8.1f} {rss}"
            )
        drained = (
            f"{self.drained_after:.0f} s"
            if self.drained_after is not None
            else "not within the wait"
        )
        lines.append(f"  webhook backlog drained {drained} after the load stopped")
        lines.append(f"  {self.verdict.summary()}")
        lines.append(f"  flags: {'; '.join(self.flags) if self.flags else 'none (flat)'}")
        if not self.verdict.ok:
            lines.append(f"  FAILED: {self.verdict.examples()}")
        return "\n".join(lines) + "\n"


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (0 when it is gone), from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def p99(samples: list[Sample]) -> float:
    if not samples:
        return 0.0
    ordered = sorted(s.seconds for s in samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def growth_flags(intervals: list[Interval]) -> list[str]:
    """What grew from the second interval to the last (the first one warms up)."""
    if len(intervals) < 3:
        return []
    base, last = intervals[1], intervals[-1]
    flags = []
    for name, before in base.rss_mib.items():
        after = last.rss_mib.get(name, 0.0)
        if after > before * RSS_GROWTH_RATIO and after - before > RSS_GROWTH_MIB:
            flags.append(f"{name} RSS grew {before:.0f} → {after:.0f} MiB")
    if base.p99_ms and last.p99_ms > base.p99_ms * P99_GROWTH_RATIO:
        flags.append(f"p99 grew {base.p99_ms:.0f} → {last.p99_ms:.0f} ms")
    return flags


async def run_soak(
    suite: MixedSuite,
    *,
    seconds: float,
    interval_seconds: float = 60.0,
    settle_within: float = 600.0,
    progress: Callable[[str], None] = lambda _: None,
) -> SoakReport:
    ledger = Ledger()
    load = MixedLoad(suite.targets, ledger)
    stop = asyncio.Event()
    running = asyncio.create_task(load.run(stop), name="mixed-load")
    intervals: list[Interval] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            window_start = time.monotonic()
            await asyncio.sleep(min(interval_seconds, seconds - (window_start - started)))
            window_end = time.monotonic()
            window = [s for s in load.samples if window_start <= s.at < window_end]
            hooks = [d for d in suite.receiver.deliveries if window_start <= d.at < window_end]
            found = Interval(
                len(intervals) + 1,
                len(window),
                window_end - window_start,
                p99(window),
                {name: rss_mib(pid) for name, pid in suite.pids().items()},
                len(hooks),
            )
            intervals.append(found)
            progress(
                f"interval {found.index}: {found.throughput:.1f} req/s, p99 {found.p99_ms:.0f} ms"
            )
    finally:
        stop.set()
        await running
    stopped = time.monotonic()
    verdict = await settle(suite, ledger, within=settle_within)
    drained = time.monotonic() - stopped if verdict.ok else None
    return SoakReport(intervals, verdict, growth_flags(intervals), drained)
