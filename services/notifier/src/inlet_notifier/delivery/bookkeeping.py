"""Booking attempts' outcomes in batches: what each outcome means (pure), and a group
commit that writes every outcome finished meanwhile in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_notifier.delivery import repository as repo
from inlet_notifier.delivery.attempts import Result

log = logging.getLogger(__name__)

# Outcomes written by one statement at most (the rest wait for the next one).
MAX_BATCH = 500


@dataclass(frozen=True)
class Booking:
    """One attempt and what follows from it."""

    claim: dict[str, Any]
    result: Result
    status: str  # succeeded | pending (retried after `delay` seconds) | failed
    delay: float | None = None
    exhausted: bool = False  # the retry schedule ran out
    gone: bool = False  # a subscriber's endpoint answered 410: it is disabled
    counts_failure: bool = False  # opens (or keeps open) the endpoint's failure window


def decide(claim: dict[str, Any], result: Result, delay: float | None) -> Booking:
    """The booking of `result`; `delay` is the schedule's next delay (None: exhausted)."""
    if result.ok:
        return Booking(claim, result, "succeeded")
    if result.status_code == 410:
        # A targeted delivery's URL came with its event: only that one is gone.
        return Booking(claim, result, "failed", gone=not claim.get("targeted"))
    return Booking(
        claim,
        result,
        "pending" if delay is not None else "failed",
        delay=delay,
        exhausted=delay is None,
        # Targeted deliveries go to many URLs: one failing says nothing of the rest.
        counts_failure=not result.key_error and not claim.get("targeted"),
    )


@dataclass(frozen=True)
class Windows:
    """Endpoints' failure windows after a batch, from each endpoint's last outcome in it."""

    healthy: list[str]
    failing: list[str]
    reset: list[str]  # failing now, after a success earlier in the batch


def windows(bookings: Sequence[Booking]) -> Windows:
    last: dict[str, bool] = {}
    succeeded: set[str] = set()
    for b in bookings:
        endpoint = str(b.claim["endpoint_id"])
        if b.result.ok:
            last[endpoint] = True
            succeeded.add(endpoint)
        elif b.counts_failure:
            last[endpoint] = False
    failing = [e for e, ok in last.items() if not ok]
    return Windows(
        healthy=[e for e, ok in last.items() if ok],
        failing=failing,
        reset=[e for e in failing if e in succeeded],
    )


class Bookkeeper:
    """Books outcomes for one worker: `book` returns once its outcome is committed.

    While one batch is being written the next gathers, so under load a statement books
    many attempts, and a lone attempt is written at once (no timer, no added delay).
    """

    def __init__(self, pool: AsyncConnectionPool[Any], worker_id: str, disable_after: float):
        self.pool = pool
        self.worker_id = worker_id
        self.disable_after = disable_after
        self._pending: list[tuple[Booking, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def book(self, booking: Booking) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((booking, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending(), name="webhook-bookkeeper")
        await done

    async def _write_pending(self) -> None:
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            try:
                await self.write([b for b, _ in batch])
            except Exception as error:  # noqa: BLE001 - handed to each attempt's own task
                # Unbooked: each delivery stays leased and is attempted again after its
                # lease, under the same webhook-id (at least once).
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def write(self, bookings: Sequence[Booking]) -> None:
        """One transaction: one statement for every attempt, then the rare follow-ups
        (endpoints disabled, operational events) one by one."""
        results = [b.result for b in bookings]
        found = windows(bookings)
        async with self.pool.connection() as conn, conn.transaction():
            rows = await repo.rows(
                conn,
                "record_attempts",
                worker=self.worker_id,
                delivery_ids=[b.claim["id"] for b in bookings],
                start_times=[r.start_time for r in results],
                end_times=[r.end_time for r in results],
                status_codes=[r.status_code or None for r in results],
                errors=[r.error for r in results],
                snippets=[r.snippet for r in results],
                latencies=[r.latency_ms for r in results],
                statuses=[b.status for b in bookings],
                delays=[b.delay for b in bookings],
                healthy=found.healthy,
                failing=found.failing,
                reset=found.reset,
            )
            finished = {str(r["id"]) for r in rows if r["kind"] == "finished"}
            operational: list[tuple[str, str, str, str]] = []
            for b in bookings:
                delivery_id, endpoint_id = str(b.claim["id"]), str(b.claim["endpoint_id"])
                workspace_id = str(b.claim["workspace_id"])
                if delivery_id not in finished:
                    log.warning("delivery lease lost", extra={"delivery_id": delivery_id})
                if b.gone:
                    reason = "the endpoint answered 410 Gone"
                    if await repo.execute(conn, "disable_endpoint", id=endpoint_id, reason=reason):
                        operational.append((workspace_id, endpoint_id, "endpoint.disabled", reason))
                if b.exhausted:
                    message = (
                        f"delivery {delivery_id} of event {b.claim['event_id']} failed "
                        f"after {b.claim['attempt_count']} attempts"
                    )
                    operational.append((workspace_id, endpoint_id, "delivery.exhausted", message))
            workspaces = {
                str(b.claim["endpoint_id"]): str(b.claim["workspace_id"]) for b in bookings
            }
            for r in rows:
                if r["kind"] != "failing" or not r["enabled"]:
                    continue
                if r["failing_seconds"] < self.disable_after:
                    continue
                reason = (
                    f"failing continuously for {r['failing_seconds']:.0f} s "
                    f"(limit {self.disable_after:.0f} s)"
                )
                endpoint_id = str(r["id"])
                if await repo.execute(conn, "disable_endpoint", id=endpoint_id, reason=reason):
                    operational.append(
                        (workspaces[endpoint_id], endpoint_id, "endpoint.disabled", reason)
                    )
            for workspace_id, endpoint_id, kind, message in operational:
                await repo.execute(
                    conn,
                    "insert_operational_event",
                    workspace_id=workspace_id,
                    endpoint_id=endpoint_id,
                    type=kind,
                    message=message,
                )
                log.warning(
                    "webhook %s: %s",
                    kind,
                    message,
                    extra={"endpoint_id": endpoint_id, "workspace_id": workspace_id},
                )
