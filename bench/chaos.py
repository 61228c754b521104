"""`python -m bench.chaos` (`make chaos`): faults under a mixed load, and the ledger after."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import uvloop

from bench.mixed.chaos import run_chaos
from bench.mixed.suite import mixed_suite
from inlet_common.config import ConfigError, Env


def progress(message: str) -> None:
    sys.stderr.write(f"chaos: {message}\n")
    sys.stderr.flush()


async def main_async(between: float, recover_within: float) -> bool:
    log_dir = Path(tempfile.mkdtemp(prefix="inlet-chaos-logs-"))
    progress(f"starting the suite on its own PostgreSQL (logs in {log_dir})")
    async with mixed_suite(log_dir) as suite:
        report = await run_chaos(
            suite, between_seconds=between, recover_within=recover_within, progress=progress
        )
    sys.stdout.write(report.render())
    return report.verdict.ok and all(r.seconds is not None for r in report.recoveries)


def main() -> int:
    env = Env(os.environ)
    try:
        between = env.number("INLET_CHAOS_BETWEEN_SECONDS", 5.0, minimum=0.0)
        recover_within = env.number("INLET_CHAOS_RECOVER_SECONDS", 10.0, minimum=1.0)
    except ConfigError as error:
        sys.stderr.write(f"configuration error: {error}\n")
        return 2
    ok = uvloop.run(main_async(between, recover_within))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
