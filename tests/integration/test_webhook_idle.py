"""An idle delivery worker: what its fallback polls cost, and what they still find."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_notifier.delivery import Worker
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from tests.integration.webhook_fixtures import FAST, KEYS, own_database
from tests.polling import until
from tests.webhook_receiver import Receiver, event

# A database of its own: no other module's deliveries are due in it.
own_pool = own_database("inlet_webhook_idle", max_size=5)


async def test_an_idle_worker_asks_what_is_due_and_claims_only_what_became_due_unnoticed(
    webhooks: Webhooks, workspace: str, receiver: Receiver, own_pool: AsyncConnectionPool[Any]
) -> None:
    """Idle, each fallback poll is one `next_due` statement, no claim transaction; a
    delivery that became due without a wake-up (a NOTIFY missed) is claimed at the next."""
    worker = Worker(own_pool, replace(FAST, poll=0.05), keys=KEYS)
    claims = 0
    looks = 0
    claim, next_due = worker.claim, worker.next_due

    async def counted_claim(limit: int) -> list[dict[str, Any]]:
        nonlocal claims
        claims += 1
        return await claim(limit)

    async def counted_next_due() -> float | None:
        nonlocal looks
        looks += 1
        return await next_due()

    worker.claim = counted_claim  # type: ignore[method-assign]
    worker.next_due = counted_next_due  # type: ignore[method-assign]
    worker.start()
    try:
        await until(lambda: looks >= 5, what="several fallback polls")
        # The first pass claims; the polls after it only asked what was due.
        assert claims == 1
        url = receiver.script("/unnoticed")
        await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
        # Published without nudging this worker: only its fallback poll can find it.
        assert await webhooks.publish([event(workspace, name="Quiet")]) == 1
        await until(lambda: len(receiver.at("/unnoticed")) == 1, what="the delivery")
    finally:
        await worker.stop()
