"""The launcher's restart backoff and its size-bounded logs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from inlet_devstack.supervise import Backoff, RotatingLog, pump


def test_a_crash_loop_backs_off_doubling_and_a_stable_run_resets_it() -> None:
    backoff = Backoff(first=0.25, most=2.0, stable=30.0)
    assert [backoff.next_delay(1.0) for _ in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert backoff.next_delay(60.0) == 0.25


def test_a_log_rotates_past_its_size_keeping_so_many_old_files(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "store.log", max_bytes=100, backups=2)
    for index in range(10):
        log.write(f"line {index:02d} ".encode() + b"x" * 30 + b"\n")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["store.log", "store.log.1", "store.log.2"]
    assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())
    assert (tmp_path / "store.log").read_text().splitlines()[-1].startswith("line 09")


def test_a_log_continues_an_existing_file_and_keeps_lines_whole(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    path.write_bytes(b"x" * 90 + b"\n")
    log = RotatingLog(path, max_bytes=100, backups=1)

    async def feed() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"first half of a line")
        reader.feed_data(b", its end\nanother")
        reader.feed_eof()
        await pump(reader, log)

    asyncio.run(feed())
    assert path.read_bytes() == b"first half of a line, its end\nanother\n"
    assert (tmp_path / "gateway.log.1").read_bytes() == b"x" * 90 + b"\n"
