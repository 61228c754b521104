"""`python -m bench.idle`: what an idle suite costs — CPU of each service, of its database
connections and (embedded) of the database server's own processes over a quiet interval, as
a share of one core, how often each wakes, and the database's transactions."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import psycopg

from bench import environment, threads
from bench.cpu import POSTGRES, CpuProbe, postmaster_pid, wakeups
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
SERVER = "pg-server"  # the postmaster and its own processes (writers, checkpointer, launchers)
_PROBE = "probe"  # this measurement's own connection, left out of every row


async def _transactions(conn: psycopg.AsyncConnection[tuple[int]]) -> int:
    found = await (await conn.execute(_TRANSACTIONS)).fetchone()
    return int(found[0]) if found else 0


def server_processes(postmaster: int, clients: set[int]) -> dict[str, int]:
    """The postmaster and its children that serve no client: background writer, WAL writer,
    checkpointer, autovacuum launcher…, by their titles."""
    try:
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    except OSError:
        return {}
    found = {f"{SERVER} postmaster {postmaster}": postmaster}
    for child in (int(pid) for pid in children):
        if child in clients:
            continue
        try:
            title = Path(f"/proc/{child}/cmdline").read_text().replace("\0", " ").strip()
        except OSError:
            continue  # exited meanwhile (an autovacuum worker)
        found[f"{SERVER} {title.removeprefix('postgres: ')} {child}"] = child
    return found


def _label(process: str) -> str:
    """A process's row in the thread table: the database's connections as one, the
    server's own processes by their titles."""
    if process.startswith("postgres "):
        return "postgres"
    if process.startswith(f"{SERVER} "):
        return process.removeprefix(f"{SERVER} ").rpartition(" ")[0]
    return process


async def _serve_once(suite: environment.Suite) -> None:
    """One push through the gateway and one through Envoy: each edge opens its channels on
    its first request, and only then does its gRPC runtime (and its threads) start."""
    body = b'{"fields": {"name": "Ada Idle", "email": "ada.idle@example.com"}}'
    async with httpx.AsyncClient(timeout=30) as client:
        for url in (suite.push_url, suite.envoy_push_url):
            reply = await client.post(url, content=body)
            if reply.status_code != 200:
                raise RuntimeError(f"a push to {url} answered {reply.status_code}")


async def measure(
    database_url: str,
    settle: float,
    seconds: float,
    *,
    server: bool,
    served: bool = True,
    per_thread: bool = False,
) -> str:
    """server: also count the database server's own processes (when the suite has it to
    itself); served: the suite has served a push through each edge before it goes quiet (as
    any suite in use has); per_thread: add a table of each process's threads by name."""
    async with environment.suite(database_url) as suite:
        if served:
            await _serve_once(suite)
        # Start-up work (migrations, seeding, first claims) is over before the clock starts.
        await asyncio.sleep(settle)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            cur = await conn.execute(_BACKENDS)
            backends = {f"postgres {row[0]}": int(row[0]) for row in await cur.fetchall()}
            own = conn.info.backend_pid
            processes = {**suite.processes, **backends, _PROBE: own}
            postmaster = postmaster_pid(own)
            if server:
                processes.update(server_processes(postmaster, {own, *backends.values()}))
                # The whole tree too: it holds what children that exited meanwhile used.
                processes[POSTGRES] = postmaster
            probe = CpuProbe(processes)
            transactions = await _transactions(conn)
            before = probe.snapshot()
            woke = {name: wakeups(pid) for name, pid in processes.items()}
            sampled = {name: threads.sample(pid) for name, pid in processes.items()}
            await asyncio.sleep(seconds)
            after = probe.snapshot()
            woke = {name: max(wakeups(pid) - woke[name], 0) for name, pid in processes.items()}
            resampled = {name: threads.sample(pid) for name, pid in processes.items()}
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
    total = sum(v for k, v in used.items() if k in suite.processes) + database
    total_woke = sum(v for k, v in woke.items() if k in suite.processes) + database_woke
    if server:
        # The tree less the clients (and this probe): the server's own processes, with any
        # that ran and exited meanwhile.
        own_cpu = max(used[POSTGRES] - database - used[_PROBE], 0.0)
        own_woke = sum(v for k, v in woke.items() if k.startswith(f"{SERVER} "))
        titles = sum(1 for k in processes if k.startswith(f"{SERVER} "))
        lines.append(
            f"  {SERVER:<10} {own_cpu / seconds * 100:6.2f} % {own_woke / seconds:7.1f}"
            f" ({titles} processes: postmaster, writers, checkpointer, launchers)"
        )
        total += own_cpu
        total_woke += own_woke
    lines.append(f"  {'all':<10} {total / seconds * 100:6.2f} % {total_woke / seconds:7.1f}")
    if per_thread:
        shown = {k: v for k, v in resampled.items() if k not in (_PROBE, POSTGRES)}
        lines.extend(threads.table(threads.usage(sampled, shown, _label), seconds))
    return "\n".join(lines) + "\n"


def main() -> int:
    env = Env(os.environ)
    # Longer than the gateway's idle spell before it lets its channels go (30 s).
    settle = env.number("INLET_BENCH_IDLE_SETTLE_SECONDS", 45.0)
    seconds = env.number("INLET_BENCH_IDLE_SECONDS", 30.0, minimum=1.0)
    per_thread = env.flag("INLET_BENCH_IDLE_THREADS", False)
    served = env.flag("INLET_BENCH_IDLE_SERVED", True)
    given = env.optional("INLET_DATABASE_URL")
    with environment.database(given) as database_url:
        # A given server may serve others too: its own processes are counted only when the
        # suite has it to itself (embedded).
        report = asyncio.run(
            measure(
                database_url,
                settle,
                seconds,
                server=given is None,
                served=served,
                per_thread=per_thread,
            )
        )
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
