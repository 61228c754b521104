"""TurnWrites: what one loop turn writes to a connection leaves in one write, in order."""

from __future__ import annotations

import asyncio
from typing import Any

from inlet_gateway.turnwrites import TurnWrites


class RecordingTransport(asyncio.Transport):
    """The transport under TurnWrites: records each write and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0


async def next_turn() -> None:
    await asyncio.sleep(0)


def wrapped() -> tuple[RecordingTransport, TurnWrites]:
    inner = RecordingTransport()
    return inner, TurnWrites(inner, asyncio.get_running_loop())


async def test_a_head_and_body_written_in_one_turn_leave_in_one_write() -> None:
    inner, writes = wrapped()
    writes.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    writes.write(b"{}")
    assert inner.writes == []
    assert writes.get_write_buffer_size() == 40
    await next_turn()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


async def test_writes_of_later_turns_leave_in_their_own_turn() -> None:
    inner, writes = wrapped()
    writes.write(b"head")
    await next_turn()
    writes.writelines([b"event: 1\n", b"\n"])
    writes.write(b"")
    await next_turn()
    assert inner.writes == [b"head", b"event: 1\n\n"]


async def test_close_sends_what_was_written_first() -> None:
    inner, writes = wrapped()
    writes.write(b"last answer")
    writes.close()
    assert inner.writes == [b"last answer"]
    assert inner.closed
    assert writes.is_closing()
    await next_turn()
    assert inner.writes == [b"last answer"]


async def test_abort_drops_what_was_not_sent() -> None:
    inner, writes = wrapped()
    writes.write(b"never sent")
    writes.abort()
    await next_turn()
    assert inner.writes == []
    assert inner.aborted


async def test_a_connection_closed_meanwhile_is_not_written_to() -> None:
    inner, writes = wrapped()
    writes.write(b"late")
    inner.closed = True
    await next_turn()
    assert inner.writes == []
