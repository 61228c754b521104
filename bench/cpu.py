"""Where the CPU goes during a measurement: per-process and machine-wide time from /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
REST = "rest"  # machine busy time not spent in a named process (other work on the machine)
POSTGRES = "postgres"  # a named process counted with every child it has or had


@dataclass(frozen=True)
class Usage:
    """CPU seconds per named process over an interval, plus the machine's busy seconds."""

    processes: dict[str, float]
    machine_busy: float

    @property
    def rest(self) -> float:
        return max(self.machine_busy - sum(self.processes.values()), 0.0)


class CpuProbe:
    """Samples utime+stime of named pids and busy time of the machine (Linux only; elsewhere
    `available` is False and usages are empty)."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.available = Path("/proc/stat").exists()

    def snapshot(self) -> Usage:
        if not self.available:
            return Usage({}, 0.0)
        return Usage(
            {
                name: _tree_seconds(pid) if name == POSTGRES else _process_seconds(pid)
                for name, pid in self.processes.items()
            },
            _busy(),
        )

    @staticmethod
    def since(before: Usage, after: Usage) -> Usage:
        return Usage(
            {name: after.processes[name] - before.processes[name] for name in before.processes},
            after.machine_busy - before.machine_busy,
        )


def _process_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the parenthesised command; utime and stime are the 14th and 15th.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _tree_seconds(pid: int) -> float:
    """CPU of a process and all its children: live ones, and (cutime, cstime) the exited
    ones it reaped, as PostgreSQL's postmaster does its backends."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = sum(int(v) for v in fields[11:15]) / _TICK
    return own + sum(_process_seconds(int(child)) for child in children)


def wakeups(pid: int) -> int:
    """How often the threads of a process were switched in so far (voluntary and
    involuntary context switches of each live thread): at idle, how often it wakes, which a
    busy host charges more for than the CPU share of a quiet one shows."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0
    total = 0
    for task in tasks:
        try:
            lines = (task / "status").read_text().splitlines()
        except OSError:
            continue  # the thread ended meanwhile
        for line in lines:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def postmaster_pid(backend_pid: int) -> int:
    """The postmaster of a backend (its parent), to count PostgreSQL's CPU by itself."""
    return int(Path(f"/proc/{backend_pid}/stat").read_text().rpartition(")")[2].split()[1])


def _busy() -> float:
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in first]
    idle = ticks[3] + ticks[4]  # idle + iowait
    # guest time is already counted in user; the first eight are the whole time.
    return (sum(ticks[:8]) - idle) / _TICK


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM) in MB; 0 when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
