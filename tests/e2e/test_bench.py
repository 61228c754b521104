"""`make bench` in its smallest form: every scenario runs through the current protocol and
schema with no failed operation (the figures themselves are not judged here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "INLET_BENCH_REQUESTS": "40",
    "INLET_BENCH_WARMUP": "5",
    "INLET_BENCH_CONCURRENCY": "8",
    "INLET_BENCH_STREAM_RATES": "20",
    "INLET_BENCH_STREAM_SECONDS": "0.5",
    "INLET_BENCH_STREAM_BATCHES": "1",
}
# minimal path, push, keyed push, ceiling, webhooks, one steady stream rate, arrays, COPY
# ceiling
SCENARIOS = 8


def scenario_rows(table: str) -> dict[str, str]:
    """Each scenario row's name and its errors cell (ratio rows have none)."""
    lines = table.splitlines()
    rows = lines[2 : lines.index("")]
    found = {}
    for line in rows:
        if not line.startswith("ratio "):
            name, _, cells = line.partition("  ")
            found[name] = cells.split()[-1]
    return found


def test_every_bench_scenario_runs_without_errors(server_url: str) -> None:
    env = {**os.environ, **TINY, "INLET_DATABASE_URL": server_url}
    done = subprocess.run(
        [sys.executable, "-m", "bench"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    errors = scenario_rows(done.stdout)
    assert len(errors) == SCENARIOS, done.stdout
    assert all(count == "0" for count in errors.values()), done.stdout
