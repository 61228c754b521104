"""Per-thread wake-ups and run time from /proc: which thread of a process wakes an idle suite."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ThreadSample:
    """One thread so far: its name, context switches and nanoseconds on a CPU."""

    name: str
    switches: int
    run_ns: int


@dataclass(frozen=True)
class ThreadUse:
    """The threads of one name in one process over an interval."""

    process: str
    name: str
    count: int
    switches: int
    run_ns: int


def sample(pid: int) -> dict[int, ThreadSample]:
    """Each live thread of `pid` by its id (empty when the process is gone or not Linux)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return {}
    found: dict[int, ThreadSample] = {}
    for task in tasks:
        try:
            name = (task / "comm").read_text().strip()
            status = (task / "status").read_text().splitlines()
            # schedstat: time on a CPU (ns), time waiting for one, timeslices run.
            run_ns = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile, or no schedstat in this kernel
        switches = sum(
            int(line.split()[1])
            for line in status
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
        )
        found[int(task.name)] = ThreadSample(name, switches, run_ns)
    return found


def usage(
    before: Mapping[str, Mapping[int, ThreadSample]],
    after: Mapping[str, Mapping[int, ThreadSample]],
    label: Callable[[str], str] = str,
) -> list[ThreadUse]:
    """What each process's threads did between two samples, grouped by the process's label
    and the thread's name (gRPC's pool threads share one; `label` may join processes, as a
    database's connections), busiest first; a thread born meanwhile counts from zero."""
    grouped: dict[tuple[str, str], list[int]] = {}
    for process, threads in after.items():
        earlier = before.get(process, {})
        for tid, now in threads.items():
            then = earlier.get(tid, ThreadSample(now.name, 0, 0))
            entry = grouped.setdefault((label(process), now.name), [0, 0, 0])
            entry[0] += 1
            entry[1] += max(now.switches - then.switches, 0)
            entry[2] += max(now.run_ns - then.run_ns, 0)
    uses = [ThreadUse(p, n, c, s, ns) for (p, n), (c, s, ns) in grouped.items()]
    return sorted(uses, key=lambda use: (use.process, -use.switches, use.name))


def table(uses: Iterable[ThreadUse], seconds: float) -> list[str]:
    """One line per process and thread name: wake-ups a second and CPU ms a second."""
    lines = ["threads (wake-ups a second, CPU ms a second):"]
    for use in uses:
        if not use.switches and not use.run_ns:
            continue
        name = use.name if use.count == 1 else f"{use.name} x{use.count}"
        lines.append(
            f"  {use.process:<18} {name:<20} {use.switches / seconds:7.1f}"
            f" {use.run_ns / seconds / 1e6:8.3f}"
        )
    return lines
