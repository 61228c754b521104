"""The outbox consumer over an in-memory outbox, and how a batch of outcomes is booked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from inlet_common.errors import Unavailable
from inlet_notifier.delivery.attempts import Result
from inlet_notifier.delivery.bookkeeping import decide, windows
from inlet_notifier.outbox.consumer import OutboxConsumer
from inlet_notifier.outbox.fake import FakeOutbox
from tests.polling import until


async def test_drain_takes_batches_until_a_short_one_and_wakes_the_worker() -> None:
    outbox = FakeOutbox(
        events=[(f"msg_{i}", "w1" if i % 2 else "w2") for i in range(7)],
        subscribers={"w1": ["e1", "e2"]},
    )
    woken: list[int] = []
    consumer = OutboxConsumer(outbox, batch_size=3, on_deliveries=lambda: woken.append(1))
    assert await consumer.drain() == 7
    assert outbox.takes == 3  # 3 + 3 + 1
    assert outbox.events == []
    assert sorted(outbox.deliveries) == sorted(
        (f"msg_{i}", e) for i in range(7) if i % 2 for e in ("e1", "e2")
    )
    assert woken


async def test_nothing_taken_wakes_nobody() -> None:
    woken: list[int] = []
    consumer = OutboxConsumer(FakeOutbox(), on_deliveries=lambda: woken.append(1))
    assert await consumer.drain() == 0
    assert woken == []


async def test_a_wake_up_drains_at_once_and_a_failure_is_retried() -> None:
    outbox = FakeOutbox(subscribers={"w": ["e"]}, fail_next=Unavailable("database away"))
    # The fallback poll is far off: only wake-ups (and the retry's backoff) drive it.
    consumer = OutboxConsumer(outbox, poll_seconds=60, max_backoff_seconds=0.05)
    consumer.start()
    try:
        await until(lambda: outbox.takes >= 2, within=5, what="a retry after the failure")
        outbox.events.append(("msg_1", "w"))
        consumer.wake()
        await until(lambda: outbox.deliveries == [("msg_1", "e")], within=5, what="woken drain")
    finally:
        await asyncio.wait_for(consumer.stop(), 5)


def result(status: int, *, key_error: bool = False) -> Result:
    now = datetime.now(UTC)
    return Result(status, "", "", None, now, now, 1, key_error=key_error)


def claim(endpoint: str, *, targeted: bool = False) -> dict[str, object]:
    return {"id": "d", "endpoint_id": endpoint, "targeted": targeted, "attempt_count": 1}


def test_an_outcome_decides_status_retry_and_what_it_says_of_its_endpoint() -> None:
    assert decide(claim("e"), result(200), None).status == "succeeded"
    gone = decide(claim("e"), result(410), 5.0)
    assert (gone.status, gone.gone, gone.counts_failure) == ("failed", True, False)
    assert not decide(claim("e", targeted=True), result(410), 5.0).gone
    retried = decide(claim("e"), result(500), 5.0)
    assert (retried.status, retried.delay, retried.counts_failure) == ("pending", 5.0, True)
    exhausted = decide(claim("e"), result(500), None)
    assert (exhausted.status, exhausted.exhausted) == ("failed", True)
    assert not decide(claim("e"), result(0, key_error=True), 5.0).counts_failure
    assert not decide(claim("e", targeted=True), result(500), 5.0).counts_failure


def test_a_batch_leaves_each_endpoint_as_its_last_outcome_says() -> None:
    found = windows(
        [
            decide(claim("a"), result(500), 1.0),
            decide(claim("a"), result(200), None),
            decide(claim("b"), result(200), None),
            decide(claim("b"), result(503), 1.0),
            decide(claim("c"), result(500), 1.0),
            decide(claim("d", targeted=True), result(500), 1.0),
        ]
    )
    assert found.healthy == ["a"]
    assert sorted(found.failing) == ["b", "c"]
    # b failed after succeeding in this batch: its failure window starts now.
    assert found.reset == ["b"]
