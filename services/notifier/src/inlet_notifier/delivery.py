"""Delivery workers: claim due deliveries (SKIP LOCKED + lease), POST them signed, record
each attempt, and schedule the next one, fail, or disable the endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram
from psycopg_pool import AsyncConnectionPool

from inlet_common import exactjson, requestids, tracing
from inlet_notifier import guard, signing
from inlet_notifier import repository as repo
from inlet_notifier.config import DeliverySettings
from inlet_notifier.secrets_at_rest import KeyRing, SecretKeyError

log = logging.getLogger(__name__)

ATTEMPTS = Counter("inlet_webhook_attempts_total", "Webhook attempts", ["outcome"])
ATTEMPT_SECONDS = Histogram("inlet_webhook_attempt_seconds", "Webhook attempt latency")

SNIPPET_BYTES = 1024


@dataclass(frozen=True)
class Result:
    """What one attempt got: an HTTP status (0: none), an error, a snippet, Retry-After."""

    status_code: int
    error: str
    snippet: str
    retry_after: float | None
    start_time: datetime
    end_time: datetime
    latency_ms: int
    # Nothing was sent: the endpoint's secret could not be opened here. The operator's
    # key ring is at fault, not the endpoint, so its failure window is left alone.
    key_error: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def signing_secrets(claim: dict[str, Any], now: datetime, keys: KeyRing) -> list[str]:
    """The clear secrets to sign with (SecretKeyError if one does not open). A previous
    secret past its grace is not opened at all: rotating with no grace recovers an
    endpoint whose old secret was sealed under a key that is gone."""
    endpoint_id = claim["endpoint_id"]
    found = [keys.open(endpoint_id, claim["secret"])]
    until = claim["previous_secret_until"]
    if claim["previous_secret"] and until is not None and until > now:
        found.append(keys.open(endpoint_id, claim["previous_secret"]))
    return found


class Worker:
    """One process's delivery loop; several processes share the table safely."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        settings: DeliverySettings,
        *,
        keys: KeyRing,
        client: httpx.AsyncClient | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.keys = keys
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.client = client or httpx.AsyncClient(
            transport=guard.transport(
                allow_private=settings.allow_private, max_connections=settings.max_in_flight
            ),
            timeout=settings.timeout,
            follow_redirects=False,
        )
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
        await self.client.aclose()

    async def run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            free = self.settings.max_in_flight - len(self._in_flight)
            claimed: list[dict[str, Any]] = []
            # Claim in batches: one claim query per finished attempt would cost more
            # than the attempts themselves under load.
            batch = max(1, self.settings.max_in_flight // 4)
            if free >= batch or (free > 0 and not self._in_flight):
                try:
                    claimed = await self.claim(free)
                except Exception as error:  # noqa: BLE001 - the loop must survive outages
                    log.warning("claiming deliveries failed", extra={"error": repr(error)})
            for claim in claimed:
                task = asyncio.create_task(self._attempt_logged(claim))
                self._in_flight.add(task)
                task.add_done_callback(self._done)
            if claimed and len(claimed) == free:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll)

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
        status, error, snippet, retry_after = 0, "", "", None
        try:
            headers = signing.headers(claim["event_id"], payload, with_secrets, started)
            # The receiver can join the trace (W3C traceparent; none when tracing is off).
            headers.update(tracing.outgoing())
            answer = await self.client.post(claim["url"], content=payload, headers=headers)
            status = answer.status_code
            snippet = answer.content[:SNIPPET_BYTES].decode("utf-8", "replace")
            if status in (429, 503):
                retry_after = retry_after_seconds(answer.headers.get("retry-after"), started)
        except httpx.TimeoutException:
            error = f"timed out after {self.settings.timeout} s"
        except (httpx.HTTPError, httpx.InvalidURL) as failure:
            # InvalidURL: a URL given with a push transfer that httpx cannot use.
            error = str(failure) or type(failure).__name__
        elapsed = time.perf_counter() - clock
        ATTEMPT_SECONDS.observe(elapsed)
        return Result(
            status_code=status,
            error=error,
            snippet=snippet,
            retry_after=retry_after,
            start_time=started,
            end_time=datetime.now(UTC),
            latency_ms=int(elapsed * 1000),
        )

    async def attempt(self, claim: dict[str, Any]) -> Result:
        result = await self.send(claim)
        outcome = "key_error" if result.key_error else str(result.status_code or "error")
        ATTEMPTS.labels("ok" if result.ok else outcome).inc()
        await self.record(claim, result)
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

    async def record(self, claim: dict[str, Any], result: Result) -> None:
        delivery_id, endpoint_id = claim["id"], claim["endpoint_id"]
        workspace_id = claim["workspace_id"]
        async with self.pool.connection() as conn, conn.transaction():
            await repo.execute(
                conn,
                "insert_attempt",
                delivery_id=delivery_id,
                worker=self.worker_id,
                start_time=result.start_time,
                end_time=result.end_time,
                status_code=result.status_code or None,
                error=result.error,
                response_snippet=result.snippet,
                latency_ms=result.latency_ms,
            )
            operational: list[tuple[str, str]] = []
            delay: float | None = None
            if result.ok:
                status = "succeeded"
                await repo.execute(conn, "endpoint_succeeded", id=endpoint_id)
            elif result.status_code == 410:
                status = "failed"
                reason = "the endpoint answered 410 Gone"
                # A targeted delivery's URL came with its event: only that one is gone.
                if not claim.get("targeted") and await repo.execute(
                    conn, "disable_endpoint", id=endpoint_id, reason=reason
                ):
                    operational.append(("endpoint.disabled", reason))
            else:
                delay = self.next_delay(claim["attempt_count"], result)
                status = "pending" if delay is not None else "failed"
                if delay is None:
                    operational.append(
                        (
                            "delivery.exhausted",
                            f"delivery {delivery_id} of event {claim['event_id']} failed "
                            f"after {claim['attempt_count']} attempts",
                        )
                    )
                # Targeted deliveries go to many URLs: one failing says nothing of the rest.
                failing = (
                    None
                    if result.key_error or claim.get("targeted")
                    else await repo.row(conn, "endpoint_failed", id=endpoint_id)
                )
                if (
                    failing is not None
                    and failing["enabled"]
                    and failing["failing_seconds"] >= self.settings.disable_after
                ):
                    reason = (
                        f"failing continuously for {failing['failing_seconds']:.0f} s "
                        f"(limit {self.settings.disable_after:.0f} s)"
                    )
                    if await repo.execute(conn, "disable_endpoint", id=endpoint_id, reason=reason):
                        operational.append(("endpoint.disabled", reason))
            finished = await repo.execute(
                conn,
                "finish_delivery",
                id=delivery_id,
                worker=self.worker_id,
                status=status,
                delay=delay,
                status_code=result.status_code or None,
            )
            if not finished:
                log.warning("delivery lease lost", extra={"delivery_id": str(delivery_id)})
            for kind, message in operational:
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
                    extra={"endpoint_id": str(endpoint_id), "workspace_id": str(workspace_id)},
                )
