"""The chaos run: the mixed load, a kill -9 of each service in turn and an immediate
PostgreSQL restart, each followed by the seconds until the chain answered again; then
the ledger's verdict."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.mixed.faults import POSTGRES, SERVICES, Recovery, recovery
from bench.mixed.ledger import Ledger, Verdict
from bench.mixed.load import MixedLoad
from bench.mixed.suite import MixedSuite
from bench.mixed.verify import settle

FAULTS = (*SERVICES, POSTGRES)


@dataclass(frozen=True)
class ChaosReport:
    verdict: Verdict
    recoveries: list[Recovery]
    seconds: float
    retried: dict[str, int]
    abandoned: int

    def render(self) -> str:
        lines = [f"chaos: {self.seconds:.0f} s of mixed load, faults in turn:"]
        for found in self.recoveries:
            took = f"{found.seconds:.1f} s" if found.seconds is not None else "NOT RECOVERED"
            what = (
                "PostgreSQL restart (immediate)"
                if found.fault == POSTGRES
                else f"kill -9 {found.fault}"
            )
            lines.append(f"  {what:<32} answered again after {took}")
        lines.append(f"  {self.verdict.summary()}")
        retried = ", ".join(f"{k} {v}" for k, v in sorted(self.retried.items())) or "none"
        lines.append(
            f"  client retries (same Idempotency-Key): {retried}; given up {self.abandoned}"
        )
        if not self.verdict.ok:
            lines.append(f"  FAILED: {self.verdict.examples()}")
        return "\n".join(lines) + "\n"


async def run_chaos(
    suite: MixedSuite,
    *,
    faults: Sequence[str] = FAULTS,
    warmup_seconds: float = 3.0,
    between_seconds: float = 3.0,
    recover_within: float = 10.0,
    settle_within: float = 60.0,
    progress: Callable[[str], None] = lambda _: None,
) -> ChaosReport:
    ledger = Ledger()
    load = MixedLoad(suite.targets, ledger)
    stop = asyncio.Event()
    started = time.monotonic()
    running = asyncio.create_task(load.run(stop), name="mixed-load")
    recoveries: list[Recovery] = []
    try:
        await asyncio.sleep(warmup_seconds)
        for fault in faults:
            progress(f"fault: {fault}")
            found = await recovery(suite, fault, within=recover_within)
            recoveries.append(found)
            progress(f"  answered again after {found.seconds}")
            await asyncio.sleep(between_seconds)
    finally:
        stop.set()
        await running
    elapsed = time.monotonic() - started
    progress(f"load stopped after {elapsed:.0f} s; waiting for accepted work and webhooks")
    verdict = await settle(suite, ledger, within=settle_within)
    return ChaosReport(verdict, recoveries, elapsed, dict(load.retries), load.abandoned)
