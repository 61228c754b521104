"""`python -m bench.soak` (`make soak`): the mixed load for INLET_SOAK_SECONDS (600), per
INLET_SOAK_INTERVAL_SECONDS (60): throughput, p99 and RSS per service; growth flagged."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import uvloop

from bench.mixed.soak import run_soak
from bench.mixed.suite import mixed_suite
from inlet_common.config import ConfigError, Env


def progress(message: str) -> None:
    sys.stderr.write(f"soak: {message}\n")
    sys.stderr.flush()


async def main_async(seconds: float, interval: float, settle: float) -> bool:
    log_dir = Path(tempfile.mkdtemp(prefix="inlet-soak-logs-"))
    progress(f"starting the suite on its own PostgreSQL (logs in {log_dir}); {seconds:g} s")
    async with mixed_suite(log_dir) as suite:
        report = await run_soak(
            suite,
            seconds=seconds,
            interval_seconds=interval,
            settle_within=settle,
            progress=progress,
        )
    sys.stdout.write(report.render())
    return report.verdict.ok and not report.flags


def main() -> int:
    env = Env(os.environ)
    try:
        seconds = env.number("INLET_SOAK_SECONDS", 600.0, minimum=1.0)
        interval = env.number("INLET_SOAK_INTERVAL_SECONDS", 60.0, minimum=1.0)
        settle = env.number("INLET_SOAK_SETTLE_SECONDS", 600.0, minimum=1.0)
    except ConfigError as error:
        sys.stderr.write(f"configuration error: {error}\n")
        return 2
    return 0 if uvloop.run(main_async(seconds, interval, settle)) else 1


if __name__ == "__main__":
    sys.exit(main())
