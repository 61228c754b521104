"""The services' log handler: JSON lines, written together at the end of a loop turn."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

import orjson
import pytest

from inlet_common import logs


class CountingStream(io.StringIO):
    """A stream that counts its writes, as the write calls a process would make."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def logger() -> logging.Logger:
    return logging.getLogger("test_log_lines")


def _handler(stream: CountingStream, logger: logging.Logger) -> logs.TurnBatchedHandler:
    handler = logs.TurnBatchedHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return handler


def _lines(stream: CountingStream) -> list[str]:
    return stream.getvalue().splitlines()


async def test_the_lines_of_one_turn_are_one_write_at_its_end(logger: logging.Logger) -> None:
    stream = CountingStream()
    _handler(stream, logger)
    for n in range(5):
        logger.info("line %s", n)
    assert stream.writes == 0  # still this turn
    await asyncio.sleep(0)  # the turn ends
    assert _lines(stream) == [f"line {n}" for n in range(5)]
    assert stream.writes == 1
    logger.info("next")
    await asyncio.sleep(0)
    assert _lines(stream)[-1] == "next"
    assert stream.writes == 2


def test_off_the_loop_a_line_is_written_at_once(logger: logging.Logger) -> None:
    stream = CountingStream()
    _handler(stream, logger)
    logger.info("alone")
    assert _lines(stream) == ["alone"]


async def test_another_thread_writes_at_once_after_the_loops_pending_lines(
    logger: logging.Logger,
) -> None:
    stream = CountingStream()
    _handler(stream, logger)
    logger.info("from the loop")
    worker = threading.Thread(target=logger.info, args=("from a thread",))
    worker.start()
    worker.join()
    # Order kept: the loop's pending line went out with the thread's.
    assert _lines(stream) == ["from the loop", "from a thread"]
    await asyncio.sleep(0)
    assert _lines(stream) == ["from the loop", "from a thread"]


async def test_flush_writes_what_is_pending(logger: logging.Logger) -> None:
    stream = CountingStream()
    handler = _handler(stream, logger)
    logger.info("before exit")
    handler.flush()  # what logging.shutdown does at exit
    assert _lines(stream) == ["before exit"]


async def test_a_record_that_cannot_be_formatted_breaks_nothing(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = CountingStream()
    _handler(stream, logger)
    logger.info("%d items", "not a number")
    logger.info("fine")
    await asyncio.sleep(0)
    assert _lines(stream) == ["fine"]
    assert "--- Logging error ---" in capsys.readouterr().err  # logging's own report


async def test_configure_writes_json_with_the_request_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = CountingStream()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        logs.configure("gateway")
        token = logs.request_id.set("req_123")
        try:
            logging.getLogger("inlet_gateway").info("answered", extra={"status": 200})
        finally:
            logs.request_id.reset(token)
        await asyncio.sleep(0)
        line = orjson.loads(_lines(stream)[-1])
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    assert line["message"] == "answered"
    assert line["request_id"] == "req_123"
    assert line["service"] == "gateway"
    assert line["level"] == "INFO"
    assert line["status"] == 200
