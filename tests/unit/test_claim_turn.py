"""The matcher's claim loops over a fake store: one long poll at a time when idle, the turn
handed on when work comes, and no loop held back while there is work to take."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from inlet.store.v1 import store_pb2
from inlet_matcher.claim_turn import ClaimTurn
from inlet_matcher.stream import GrpcStreamStore
from inlet_matcher.worker import Workers
from tests.polling import until


class FakeInbox:
    """ClaimStreamRequests as the store answers it: what is waiting, else a wait of up to
    `wait_seconds` for a request (`commit`), else nothing."""

    def __init__(self) -> None:
        self.waiting: list[str] = []
        self.calls: list[float] = []  # each claim's wait_seconds
        self.parked = 0
        self.most_parked = 0
        self._committed = asyncio.Event()
        self.applied: list[str] = []

    def commit(self, *request_ids: str) -> None:
        self.waiting.extend(request_ids)
        self._committed.set()

    async def claim(
        self,
        worker: str,
        lease_seconds: int,
        *,
        max_requests: int = 1,
        max_items: int = 0,
        wait_seconds: float = 0.0,
    ) -> list[store_pb2.ClaimedStreamRequest]:
        self.calls.append(wait_seconds)
        if not self.waiting and wait_seconds > 0:
            self.parked += 1
            self.most_parked = max(self.most_parked, self.parked)
            self._committed.clear()
            try:
                await asyncio.wait_for(self._committed.wait(), wait_seconds)
            except TimeoutError:
                return []
            finally:
                self.parked -= 1
        taken, self.waiting = self.waiting[:max_requests], self.waiting[max_requests:]
        return [
            store_pb2.ClaimedStreamRequest(request_id=r, lease_token="t", source="push")
            for r in taken
        ]

    async def apply_transfer(
        self, request: store_pb2.ApplyPushItemsRequest
    ) -> store_pb2.ApplyPushItemsResponse:
        self.applied.append(request.request_id)
        return store_pb2.ApplyPushItemsResponse(status="completed")


def workers_over(inbox: FakeInbox, **options: Any) -> Workers:
    return Workers(cast(GrpcStreamStore, inbox), **options)


async def test_idle_loops_keep_one_long_poll_at_the_store() -> None:
    inbox = FakeInbox()
    workers = workers_over(inbox, count=4, poll_seconds=0.1)
    workers.start()
    try:
        # Several polls run out, one after another.
        await until(lambda: sum(1 for w in inbox.calls if w > 0) >= 4, within=10, what="polls")
    finally:
        await workers.stop()
    assert inbox.most_parked == 1
    # Besides the polls, each other loop looked once (without waiting) before parking.
    assert sorted(inbox.calls)[:3] == [0.0, 0.0, 0.0]
    assert inbox.calls.count(0.0) == 3


async def test_work_committed_during_the_poll_is_taken_and_the_turn_handed_on() -> None:
    inbox = FakeInbox()
    workers = workers_over(inbox, count=3, poll_seconds=30, batch_size=1)
    workers.start()
    try:
        await until(lambda: inbox.parked == 1, within=10, what="a parked poll")
        inbox.commit("a", "b", "c")
        await until(lambda: sorted(inbox.applied) == ["a", "b", "c"], within=10, what="applied")
        # Someone waits at the store again, long before the poll's 30 s.
        await until(lambda: inbox.parked == 1, within=10, what="a poll parked again")
        inbox.commit("d")
        await until(lambda: "d" in inbox.applied, within=10, what="d applied")
    finally:
        await workers.stop()
    assert inbox.most_parked == 1


async def test_a_loop_takes_waiting_work_without_waiting_while_another_polls() -> None:
    inbox = FakeInbox()
    inbox.commit("x")
    workers = workers_over(inbox, count=2, poll_seconds=30, batch_size=1)
    assert workers.turn.take()  # another loop's claim waits at the store
    assert await workers.run_once("w") == 1
    assert inbox.applied == ["x"]
    assert inbox.calls == [0.0]


async def test_a_turn_is_handed_to_one_parked_loop_and_a_cancelled_one_is_skipped() -> None:
    turn = ClaimTurn()
    assert turn.take()
    assert not turn.take()
    first = asyncio.create_task(turn.wait())
    second = asyncio.create_task(turn.wait())
    await until(lambda: turn.parked == 2, within=5, what="two parked loops")
    first.cancel()
    await until(lambda: turn.parked == 1, within=5, what="the cancelled one gone")
    turn.release(handed_on=True)
    await asyncio.wait_for(second, 5)
    assert turn.take()
    # Released without work: nobody parked is let go.
    third = asyncio.create_task(turn.wait())
    await until(lambda: turn.parked == 1, within=5, what="a parked loop")
    turn.release(handed_on=False)
    assert turn.parked == 1
    third.cancel()
