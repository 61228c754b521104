"""The idle bench's per-thread view: samples from /proc, grouped by process and thread name,
and the database server's own processes told from its clients."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from bench import idle, threads
from bench.threads import ThreadSample

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_a_sample_holds_this_thread_by_its_id_and_name() -> None:
    found = threads.sample(os.getpid())

    me = found[threading.get_native_id()]
    assert me.name
    assert me.switches >= 0
    assert me.run_ns > 0


def test_a_process_that_is_gone_samples_as_nothing() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()

    assert threads.sample(child.pid) == {}


def test_threads_are_grouped_by_process_label_and_name_and_a_new_one_counts_from_zero() -> None:
    before = {
        "store": {1: ThreadSample("event_engine", 10, 1_000), 2: ThreadSample("python", 5, 500)},
        "postgres 7": {7: ThreadSample("postgres", 1, 100)},
    }
    after = {
        "store": {
            1: ThreadSample("event_engine", 30, 3_000),
            2: ThreadSample("python", 5, 500),
            3: ThreadSample("event_engine", 4, 400),  # born meanwhile
        },
        "postgres 7": {7: ThreadSample("postgres", 3, 300)},
        "postgres 8": {8: ThreadSample("postgres", 2, 200)},
    }

    uses = threads.usage(before, after, lambda p: p.split()[0])

    assert [(u.process, u.name, u.count, u.switches, u.run_ns) for u in uses] == [
        ("postgres", "postgres", 2, 4, 400),
        ("store", "event_engine", 2, 24, 2_400),
        ("store", "python", 1, 0, 0),
    ]


def test_the_table_shows_rates_a_second_and_leaves_out_threads_that_did_nothing() -> None:
    uses = [
        threads.ThreadUse("store", "event_engine", 4, 20, 2_000_000),
        threads.ThreadUse("store", "python", 1, 0, 0),
    ]

    lines = threads.table(uses, seconds=2.0)

    assert lines[0].startswith("threads")
    assert len(lines) == 2
    assert "event_engine x4" in lines[1]
    assert lines[1].split()[-2:] == ["10.0", "1.000"]


def test_the_servers_own_processes_are_its_children_that_serve_no_client() -> None:
    # This process stands in for a postmaster: its children are a "writer" and a "client".
    writer = subprocess.Popen(["sleep", "30"])
    client = subprocess.Popen(["sleep", "31"])
    try:
        found = idle.server_processes(os.getpid(), {client.pid})
    finally:
        for child in (writer, client):
            child.kill()
            child.wait()

    assert found[f"{idle.SERVER} postmaster {os.getpid()}"] == os.getpid()
    assert found[f"{idle.SERVER} sleep 30 {writer.pid}"] == writer.pid
    assert client.pid not in found.values()
