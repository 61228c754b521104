"""The delivery worker: claim due deliveries (SKIP LOCKED + lease), POST them signed, and
book each outcome (in batches, see bookkeeping); sleep until woken or the next one is due."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram
from psycopg_pool import AsyncConnectionPool

from inlet_common import exactjson, requestids, tracing
from inlet_notifier import signing
from inlet_notifier.config import DeliverySettings
from inlet_notifier.delivery import repository as repo
from inlet_notifier.delivery.attempts import Result, retry_after_seconds, signing_secrets
from inlet_notifier.delivery.bookkeeping import Bookkeeper, decide
from inlet_notifier.delivery.http import Poster
from inlet_notifier.secrets_at_rest import KeyRing, SecretKeyError

log = logging.getLogger(__name__)

ATTEMPTS = Counter("inlet_webhook_attempts_total", "Webhook attempts", ["outcome"])
ATTEMPT_SECONDS = Histogram("inlet_webhook_attempt_seconds", "Webhook attempt latency")

# Due deliveries that cannot be claimed yet (their endpoint's cap is full, an earlier one
# of their order is in flight elsewhere) are looked at again this often at most.
BLOCKED_RECHECK_SECONDS = 1.0


class Worker:
    """One process's delivery loop; several processes share the table safely."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        settings: DeliverySettings,
        *,
        keys: KeyRing,
        poster: Poster | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.keys = keys
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.poster = poster or Poster(
            allow_private=settings.allow_private,
            max_connections=settings.max_in_flight,
            timeout=settings.timeout,
        )
        self.bookkeeper = Bookkeeper(pool, self.worker_id, settings.disable_after)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        """New deliveries exist: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="webhook-worker")

    async def stop(self) -> None:
        """Stop claiming; let attempts in flight finish (their leases cover a crash)."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self.poster.close()

    async def run(self) -> None:
        look = True  # claim on this pass
        due: float | None = None
        while not self._stopping.is_set():
            self._wake.clear()
            if look:
                if await self._fill_free_slots():
                    continue  # every free slot taken: more may be waiting
                due = await self.next_due()
            look, due = await self._sleep(due)

    async def _fill_free_slots(self) -> bool:
        """Claim deliveries for the free slots and start their attempts; True when the
        claim filled every free slot."""
        free = self.settings.max_in_flight - len(self._in_flight)
        # Claim in batches: one claim query per finished attempt would cost more than the
        # attempts themselves under load.
        batch = max(1, self.settings.max_in_flight // 4)
        if free < batch and (free <= 0 or self._in_flight):
            return False
        try:
            claimed = await self.claim(free)
        except Exception as error:  # noqa: BLE001 - the loop must survive outages
            log.warning("claiming deliveries failed", extra={"error": repr(error)})
            return False
        for claim in claimed:
            task = asyncio.create_task(self._attempt_logged(claim))
            self._in_flight.add(task)
            task.add_done_callback(self._done)
        return bool(claimed) and len(claimed) == free

    async def _sleep(self, due: float | None) -> tuple[bool, float | None]:
        """Sleep until woken, until `due` or for the fallback poll; whether the next pass
        claims, and the due time known then."""
        try:
            await asyncio.wait_for(self._wake.wait(), self.pause(due))
        except TimeoutError:
            if due is not None and due <= self.settings.poll:
                return True, due  # slept until it was due (or a blocked one's recheck)
            # The fallback poll ran out with nothing due: whether anything became due
            # without a wake-up (a NOTIFY missed) is one statement, the claim (a
            # transaction of three) only when something did.
            due = await self.next_due()
            return due is not None and due <= 0, due
        return True, due

    def pause(self, due: float | None) -> float:
        """How long to sleep unless woken, given the seconds until the next delivery is
        due or a lease runs out (None: none is): until then, within the fallback poll (a
        wake-up comes with new deliveries and with every attempt that finishes here)."""
        if due is None:
            return self.settings.poll
        if due <= 0:
            return min(BLOCKED_RECHECK_SECONDS, self.settings.poll)
        return min(due, self.settings.poll)

    async def next_due(self) -> float | None:
        """Seconds until the next delivery is due or a lease runs out; None when none is
        (or the database cannot say: the fallback poll then looks again)."""
        if self._in_flight:
            # An attempt finishing wakes the loop; no need to ask the database.
            return 0.0
        try:
            async with self.pool.connection() as conn:
                found = await repo.row(conn, "next_due")
        except Exception as error:  # noqa: BLE001 - the loop must survive outages
            log.warning("reading the next due time failed", extra={"error": repr(error)})
            return None
        return float(found["seconds"]) if found and found["seconds"] is not None else None

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        # A finished attempt frees a slot, and may free its endpoint's cap.
        self._wake.set()

    async def claim(self, limit: int) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn, conn.transaction():
            # Claimers take turns: each counts the leases the previous one committed, so
            # two notifiers cannot both fill an endpoint's last slots (the cap is strict).
            await repo.execute(conn, "serialize_claims")
            return await repo.rows(
                conn,
                "claim_deliveries",
                worker=self.worker_id,
                lease=self.settings.lease,
                limit=limit,
                per_endpoint=self.settings.per_endpoint,
            )

    async def _attempt_logged(self, claim: dict[str, Any]) -> None:
        # Under the id of the request that caused the event, so its lines join the others.
        data = claim["data"] if isinstance(claim["data"], dict) else {}
        request_id = str(data.get("request_id") or "")
        # The span continues the trace of the change that wrote the event.
        traceparent = claim.get("traceparent")
        with (
            requestids.bound(request_id),
            tracing.span(
                "webhook deliver",
                kind=SpanKind.CLIENT,
                parent={tracing.TRACEPARENT_KEY: traceparent} if traceparent else None,
                request_id=request_id,
            ) as span,
        ):
            if span is not None:
                span.set_attribute("inlet.webhook.event_id", str(claim["event_id"]))
                span.set_attribute("inlet.webhook.event_type", str(claim["type"]))
                span.set_attribute("inlet.webhook.endpoint_id", str(claim["endpoint_id"]))
                span.set_attribute("inlet.webhook.attempt", int(claim["attempt_count"]))
            try:
                result = await self.attempt(claim)
            except Exception:
                log.exception("delivery attempt failed", extra={"delivery_id": str(claim["id"])})
                tracing.fail(span, "delivery attempt failed")
                return
            if span is not None:
                span.set_attribute("http.response.status_code", result.status_code)
                if not result.ok:
                    tracing.fail(span, result.error or f"HTTP {result.status_code}")
            log.info(
                "webhook attempt",
                extra={
                    "delivery_id": str(claim["id"]),
                    "endpoint_id": str(claim["endpoint_id"]),
                    "event_id": claim["event_id"],
                    "event_type": claim["type"],
                    "status_code": result.status_code,
                    "latency_ms": result.latency_ms,
                },
            )

    async def send(self, claim: dict[str, Any]) -> Result:
        # A targeted event (a push transfer's webhook) is its dialect's payload as it is.
        payload = (
            exactjson.dumps(claim["data"])
            if claim.get("targeted")
            else signing.body(claim["type"], claim["occur_time"], claim["data"])
        )
        started = datetime.now(UTC)
        try:
            with_secrets = signing_secrets(claim, started, self.keys)
        except SecretKeyError as failure:
            # Never sent with a wrong key: recorded as an attempt that sent nothing, and
            # retried on the schedule (a restart with the right key ring delivers it).
            log.error(
                "webhook not sent: %s",
                failure,
                extra={"delivery_id": str(claim["id"]), "endpoint_id": str(claim["endpoint_id"])},
            )
            return Result(0, str(failure), "", None, started, datetime.now(UTC), 0, key_error=True)
        clock = time.perf_counter()
        headers = signing.headers(claim["event_id"], payload, with_secrets, started)
        # The receiver can join the trace (W3C traceparent; none when tracing is off).
        headers.update(tracing.outgoing())
        answer = await self.poster.post(claim["url"], payload, headers)
        elapsed = time.perf_counter() - clock
        ATTEMPT_SECONDS.observe(elapsed)
        return Result(
            status_code=answer.status,
            error=answer.error,
            snippet=answer.snippet,
            retry_after=(
                retry_after_seconds(answer.retry_after, started)
                if answer.status in (429, 503)
                else None
            ),
            start_time=started,
            end_time=datetime.now(UTC),
            latency_ms=int(elapsed * 1000),
        )

    async def attempt(self, claim: dict[str, Any]) -> Result:
        result = await self.send(claim)
        outcome = "key_error" if result.key_error else str(result.status_code or "error")
        ATTEMPTS.labels("ok" if result.ok else outcome).inc()
        delay = None if result.ok else self.next_delay(claim["attempt_count"], result)
        await self.bookkeeper.book(decide(claim, result, delay))
        return result

    def next_delay(self, attempt_count: int, result: Result) -> float | None:
        """Seconds to the next attempt, or None when the schedule is exhausted."""
        delay = self.settings.delay_before(attempt_count + 1)
        if delay is None:
            return None
        delay *= 1 + random.uniform(-self.settings.jitter, self.settings.jitter)
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, self.settings.retry_after_cap))
        return max(delay, 0.0)
