"""The mixed load: endpoint push, stream ingest, integration ingest and push transfer, each
item with a marker no other item has, sent as a careful client would: a failed attempt
(no answer, 5xx, 429) is retried with the same Idempotency-Key until it is acknowledged."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.mixed.ledger import Ack, Ledger

DEFAULT_WORKERS: Mapping[str, int] = {"endpoint": 3, "stream": 2, "integration": 1, "transfer": 1}
# What each dialect answers when it has taken the request.
_ACK_STATUS = {"endpoint": 200, "stream": 202, "integration": 202, "transfer": 200}
_RETRY_PAUSE = 0.1


@dataclass(frozen=True)
class Targets:
    """Where the load goes, with every dialect's credential (make run's demo has them all)."""

    gateway_url: str
    endpoint_token: str
    ingest_key: str
    project_token: str
    api_key: str
    session_id: str
    integration: str = "contacts"


@dataclass(frozen=True)
class Sample:
    """One acknowledged request: when it was answered and how long it took, all retries in."""

    at: float
    seconds: float
    dialect: str


@dataclass(frozen=True)
class _Request:
    dialect: str
    path: str
    body: Any
    headers: dict[str, str]
    marker: str
    values: dict[str, Any]


@dataclass
class MixedLoad:
    targets: Targets
    ledger: Ledger
    workers: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WORKERS))
    # A request not acknowledged after this long is given up (and counted, not ledgered).
    give_up_seconds: float = 60.0
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    samples: list[Sample] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)  # why attempts were repeated
    abandoned: int = 0
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set; requests in flight then finish (or are given up)."""
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(
            self.targets.gateway_url, connector=connector, timeout=timeout
        ) as session:
            loops = [
                self._worker(session, dialect, stop)
                for dialect, count in self.workers.items()
                for _ in range(count)
            ]
            await asyncio.gather(*loops)

    async def _worker(
        self, session: aiohttp.ClientSession, dialect: str, stop: asyncio.Event
    ) -> None:
        while not stop.is_set():
            await self._send(session, self._request(dialect, next(self._numbers)))

    def _request(self, dialect: str, number: int) -> _Request:
        marker = f"mx-{self.run_id}-{number}"
        email = f"{marker}@acme.no"
        key = {"Idempotency-Key": f"{marker}-key", "Content-Type": "application/json"}
        t = self.targets
        if dialect == "endpoint":
            values: dict[str, Any] = {"name": f"Person {number}", "email": email}
            return _Request(
                dialect,
                f"/api/v1/ingest/{t.endpoint_token}",
                {"fields": values},
                key,
                email,
                values,
            )
        if dialect == "stream":
            values = {"region": marker, "revenue": number}
            headers = {**key, "Authorization": f"Bearer {t.ingest_key}", "X-Item-Key": "region"}
            return _Request(dialect, "/api/ingest", [values], headers, marker, values)
        if dialect == "integration":
            values = {"name": f"Person {number}", "email": email}
            headers = {**key, "Authorization": f"Bearer {t.project_token}"}
            path = f"/api/v1/external/data-ingestion/{t.integration}"
            return _Request(dialect, path, [values], headers, email, values)
        body = {
            "session_id": t.session_id,
            "endgrate_type": "crm-contact",
            "transfer_data": [{"data": {"first_name": f"Person {number}", "email": email}}],
        }
        headers = {**key, "Authorization": f"Bearer {t.api_key}"}
        return _Request(dialect, "/api/push/transfer", body, headers, email, {"email": email})

    async def _send(self, session: aiohttp.ClientSession, request: _Request) -> None:
        started = time.monotonic()
        payload = orjson.dumps(request.body)
        while time.monotonic() - started < self.give_up_seconds:
            try:
                async with session.post(request.path, data=payload, headers=request.headers) as got:
                    answer = await got.read()
                    status = got.status
                    request_id = got.headers.get("x-request-id", "")
            except (aiohttp.ClientError, TimeoutError) as failure:
                self.retries[f"{request.dialect} {type(failure).__name__}"] += 1
                await asyncio.sleep(_RETRY_PAUSE)
                continue
            if status == _ACK_STATUS[request.dialect]:
                now = time.monotonic()
                self.ledger.add(
                    Ack(request.dialect, status, request.marker, request.values, request_id, now)
                )
                self.samples.append(Sample(now, now - started, request.dialect))
                return
            if status >= 500 or status in (408, 409, 429):
                # Unavailable, timed out, the first attempt still in progress, rate limited.
                self.retries[f"{request.dialect} {status}"] += 1
                await asyncio.sleep(_RETRY_PAUSE)
                continue
            raise AssertionError(
                f"{request.dialect} answered {status}, not retryable: {answer[:300]!r}"
            )
        self.abandoned += 1
