"""`python -m bench.idle`: what an idle suite costs — CPU of each service and of its
database connections over a quiet interval, as a share of one core, how often each wakes,
and the database's transactions."""

from __future__ import annotations

import asyncio
import os
import sys

import psycopg

from bench import environment
from bench.cpu import CpuProbe, wakeups
from inlet_common.config import Env

_BACKENDS = (
    "SELECT pid FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
# Transactions committed or rolled back in the suite's database (PostgreSQL's statistics:
# a backend reports its own within a second or so of going idle).
_TRANSACTIONS = (
    "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
)


async def _transactions(conn: psycopg.AsyncConnection[tuple[int]]) -> int:
    found = await (await conn.execute(_TRANSACTIONS)).fetchone()
    return int(found[0]) if found else 0


async def measure(database_url: str, settle: float, seconds: float) -> str:
    async with environment.suite(database_url) as suite:
        # Start-up work (migrations, seeding, first claims) is over before the clock starts.
        await asyncio.sleep(settle)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            cur = await conn.execute(_BACKENDS)
            backends = {f"postgres {row[0]}": int(row[0]) for row in await cur.fetchall()}
            processes = {**suite.processes, **backends}
            probe = CpuProbe(processes)
            transactions = await _transactions(conn)
            before = probe.snapshot()
            woke = {name: wakeups(pid) for name, pid in processes.items()}
            await asyncio.sleep(seconds)
            after = probe.snapshot()
            woke = {name: max(wakeups(pid) - woke[name], 0) for name, pid in processes.items()}
            # Less this probe's own first read (each is a transaction of its own).
            transactions = await _transactions(conn) - transactions - 1
    used = CpuProbe.since(before, after).processes
    lines = [f"idle suite over {seconds:g} s (share of one core, wake-ups a second):"]
    for name in sorted(suite.processes):
        share = used.get(name, 0.0) / seconds * 100
        lines.append(f"  {name:<10} {share:6.2f} % {woke[name] / seconds:7.1f}")
    database = sum(v for k, v in used.items() if k.startswith("postgres "))
    database_woke = sum(v for k, v in woke.items() if k.startswith("postgres "))
    lines.append(
        f"  {'postgres':<10} {database / seconds * 100:6.2f} % {database_woke / seconds:7.1f}"
        f" ({len(backends)} connections, {max(transactions, 0) / seconds * 60:.0f}"
        " transactions a minute)"
    )
    total = sum(used.values())
    lines.append(
        f"  {'all':<10} {total / seconds * 100:6.2f} % {sum(woke.values()) / seconds:7.1f}"
    )
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
