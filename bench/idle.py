"""`python -m bench.idle`: what an idle suite costs — CPU of each service and of its
database connections over a quiet interval, as a share of one core."""

from __future__ import annotations

import asyncio
import os
import sys

import psycopg

from bench import environment
from bench.cpu import CpuProbe
from inlet_common.config import Env

_BACKENDS = (
    "SELECT pid FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


async def measure(database_url: str, settle: float, seconds: float) -> str:
    async with environment.suite(database_url) as suite:
        # Start-up work (migrations, seeding, first claims) is over before the clock starts.
        await asyncio.sleep(settle)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            cur = await conn.execute(_BACKENDS)
            backends = {f"postgres {row[0]}": int(row[0]) for row in await cur.fetchall()}
        probe = CpuProbe({**suite.processes, **backends})
        before = probe.snapshot()
        await asyncio.sleep(seconds)
        after = probe.snapshot()
    used = CpuProbe.since(before, after).processes
    lines = [f"idle suite over {seconds:g} s (share of one core):"]
    for name in sorted(suite.processes):
        lines.append(f"  {name:<10} {used.get(name, 0.0) / seconds * 100:6.2f} %")
    database = sum(v for k, v in used.items() if k.startswith("postgres "))
    lines.append(
        f"  {'postgres':<10} {database / seconds * 100:6.2f} % ({len(backends)} connections)"
    )
    total = sum(used.values())
    lines.append(f"  {'all':<10} {total / seconds * 100:6.2f} %")
    return "\n".join(lines) + "\n"


def main() -> int:
    env = Env(os.environ)
    settle = env.number("INLET_BENCH_IDLE_SETTLE_SECONDS", 15.0)
    seconds = env.number("INLET_BENCH_IDLE_SECONDS", 30.0, minimum=1.0)
    with environment.database(env.optional("INLET_DATABASE_URL")) as database_url:
        report = asyncio.run(measure(database_url, settle, seconds))
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
