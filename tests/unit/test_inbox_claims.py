"""The claim use case over an in-memory inbox: batches, the long poll, and its wake-ups."""

from __future__ import annotations

import asyncio
import time

from inlet_store.inbox.claims import Claims
from inlet_store.inbox.fake import FakeClaims
from inlet_store.inbox.waiting import Wakeups
from tests.polling import until


async def test_a_claim_takes_a_batch_within_its_request_and_item_budgets() -> None:
    fake = FakeClaims(waiting=[("r1", 400), ("r2", 400), ("r3", 400), ("r4", 1)])
    claims = Claims(fake)
    first = await claims.claim(limit=10, max_items=1000, lease_seconds=30, wait_seconds=0)
    assert [c.request_id for c in first] == ["r1", "r2"]
    second = await claims.claim(limit=1, max_items=0, lease_seconds=30, wait_seconds=0)
    assert [c.request_id for c in second] == ["r3"]


async def test_the_first_request_is_taken_whatever_its_size() -> None:
    claims = Claims(FakeClaims(waiting=[("big", 5000)]))
    found = await claims.claim(limit=10, max_items=1000, lease_seconds=30, wait_seconds=0)
    assert [c.request_id for c in found] == ["big"]


async def test_with_nothing_waiting_a_claim_answers_none_after_its_wait() -> None:
    fake = FakeClaims()
    found = await Claims(fake).claim(limit=5, max_items=0, lease_seconds=30, wait_seconds=0.05)
    assert found == []
    # It looked once and parked; its time up with no wake-up, it answers without looking
    # again (the worker's next call looks first thing).
    assert fake.calls == 1


async def test_a_claim_whose_time_is_up_leaves_a_late_request_to_the_next_claim() -> None:
    fake = FakeClaims()
    claims = Claims(fake)
    assert await claims.claim(limit=5, max_items=0, lease_seconds=30, wait_seconds=0.05) == []
    # Committed as the first one's time ran out (its wake-up kept for the next wait).
    fake.waiting.append(("late", 1))
    claims.wakeups.wake()
    found = await claims.claim(limit=5, max_items=0, lease_seconds=30, wait_seconds=30)
    assert [c.request_id for c in found] == ["late"]
    assert fake.calls == 2


async def test_a_claim_woken_by_a_lease_end_looks_again_even_near_its_deadline() -> None:
    fake = FakeClaims()
    claims = Claims(fake)
    fake.leased["dead"] = time.monotonic() + 0.05
    found = await claims.claim(limit=5, max_items=0, lease_seconds=30, wait_seconds=0.2)
    assert [c.request_id for c in found] == ["dead"]


async def test_a_wake_up_releases_a_parked_claim_at_once() -> None:
    fake = FakeClaims()
    claims = Claims(fake, Wakeups())
    started = time.monotonic()
    parked = asyncio.create_task(
        claims.claim(limit=5, max_items=0, lease_seconds=30, wait_seconds=30)
    )
    await until(lambda: claims.wakeups.parked == 1, within=5, what="a parked claim")
    fake.waiting.append(("new", 1))
    claims.wakeups.wake()
    found = await asyncio.wait_for(parked, 5)
    assert [c.request_id for c in found] == ["new"]
    assert time.monotonic() - started < 30


async def test_a_wake_up_with_nobody_parked_is_kept_for_the_next_wait() -> None:
    wakeups = Wakeups()
    wakeups.wake()
    assert await wakeups.wait(30) is True
    assert await wakeups.wait(0.01) is False


async def test_one_wake_up_releases_one_parked_claim() -> None:
    wakeups = Wakeups()
    waits = [asyncio.create_task(wakeups.wait(0.3)) for _ in range(3)]
    await until(lambda: wakeups.parked == 3, within=5, what="three parked waits")
    wakeups.wake()
    assert sorted(await asyncio.gather(*waits)) == [False, False, True]


async def test_a_parked_claim_wakes_when_a_lease_runs_out() -> None:
    fake = FakeClaims()
    claims = Claims(fake)
    taken = await claims.claim(limit=1, max_items=0, lease_seconds=30, wait_seconds=0)
    assert taken == []
    fake.leased["dead"] = time.monotonic() + 0.05  # its worker died; the lease ends soon
    found = await asyncio.wait_for(
        claims.claim(limit=1, max_items=0, lease_seconds=30, wait_seconds=30), 5
    )
    assert [c.request_id for c in found] == ["dead"]


async def test_closing_releases_parked_claims_empty_handed_and_parks_none_again() -> None:
    fake = FakeClaims()
    claims = Claims(fake)
    parked = asyncio.create_task(
        claims.claim(limit=5, max_items=0, lease_seconds=30, wait_seconds=60)
    )
    await until(lambda: claims.wakeups.parked == 1, within=5, what="a parked claim")
    claims.wakeups.close()
    assert await asyncio.wait_for(parked, 5) == []
    later = await asyncio.wait_for(
        claims.claim(limit=5, max_items=0, lease_seconds=30, wait_seconds=60), 5
    )
    assert later == []


async def test_wake_ups_while_a_woken_claim_gathers_are_its_own_then_handed_on() -> None:
    """Requests that arrive just after the one that woke a claim are taken by that claim,
    not each by a claim of its own; a parked claim is woken after it, in case its budget
    left some behind."""
    fake = FakeClaims()
    claims = Claims(fake, Wakeups(gather_seconds=0.2))
    first = asyncio.create_task(
        claims.claim(limit=1, max_items=0, lease_seconds=30, wait_seconds=30)
    )
    await until(lambda: claims.wakeups.parked == 1, within=5, what="a parked claim")
    second = asyncio.create_task(
        claims.claim(limit=5, max_items=0, lease_seconds=30, wait_seconds=30)
    )
    await until(lambda: claims.wakeups.parked == 2, within=5, what="two parked claims")
    fake.waiting.append(("a", 1))
    claims.wakeups.wake()
    fake.waiting.append(("b", 1))
    claims.wakeups.wake()  # the first claim's, which is gathering: the second stays parked
    assert claims.wakeups.parked == 1
    # Its budget is one request: the other is left for the claim it hands on to.
    assert [c.request_id for c in await asyncio.wait_for(first, 5)] == ["a"]
    assert [c.request_id for c in await asyncio.wait_for(second, 5)] == ["b"]
