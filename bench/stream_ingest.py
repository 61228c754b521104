"""Stream ingest through the whole suite: accept→visible latency at a steady request rate,
and items/s for 1,000-item arrays beside a raw COPY-upsert ceiling on the same database."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import psycopg

from bench.cpu import CpuProbe
from bench.environment import Target
from bench.scenario import Result
from inlet_common.config import ConfigError, Env
from inlet_store.streams import new_key

# How often the visibility poller asks which outstanding requests have completed; it
# bounds the error of each accept→visible sample (on average half of it is added).
POLL_SECONDS = 0.005


@dataclass(frozen=True)
class StreamTarget:
    slug: str
    key: str
    entity_type_id: str


async def create_stream(database_url: str, target: Target) -> StreamTarget:
    """A stream on the seeded contact type and a key without a practical rate limit.

    Written with SQL, as the bench has the database but not the workspace's admin token.
    """
    key = new_key("live")
    slug = f"bench-{secrets.token_hex(3)}"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(
            "INSERT INTO streams (workspace_id, slug, display_name, entity_type_id)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (target.workspace_id, slug, slug, target.entity_type_id),
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            "INSERT INTO ingest_keys (id, stream_id, mode, secret_hash, rate_limit)"
            " VALUES (%s, %s, 'live', %s, 1000000000)",
            (key.key_id, row[0], key.secret_hash),
        )
    return StreamTarget(slug, key.full, target.entity_type_id)


class Completions:
    """Watches outstanding request ids and resolves each one's future when it completes."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.pending: dict[str, asyncio.Future[float]] = {}
        self.outcomes: Counter[str] = Counter()

    def watch(self, request_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        return future

    async def run(self, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as c:
            while not (stop.is_set() and not self.pending):
                if self.pending:
                    cur = await c.execute(
                        "SELECT id, status FROM stream_requests WHERE id = ANY(%s)"
                        " AND status IN ('completed', 'failed')",
                        (list(self.pending),),
                    )
                    seen = time.perf_counter()
                    for request_id, status in await cur.fetchall():
                        self.outcomes[status] += 1
                        future = self.pending.pop(request_id)
                        if not future.done():  # not given up on (wait_for cancels it)
                            future.set_result(seen)
                await asyncio.sleep(POLL_SECONDS)


async def _post(
    client: aiohttp.ClientSession, url: str, key: str, body: bytes, *, item_key: str = ""
) -> tuple[str | None, str]:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    if item_key:
        headers["x-item-key"] = item_key
    try:
        async with client.post(url, data=body, headers=headers) as reply:
            if reply.status != 202:
                return None, f"HTTP {reply.status}"
            answer = await reply.json()
    except (aiohttp.ClientError, TimeoutError) as error:
        return None, type(error).__name__
    return str(answer["data"]["request_id"]), ""


class AcceptToVisible:
    """Single-item requests sent open-loop at `rate`/s; each sample is the time from
    sending the request to seeing it completed (its record committed) in PostgreSQL."""

    def __init__(
        self,
        gateway_url: str,
        database_url: str,
        stream: StreamTarget,
        *,
        rate: int,
        seconds: float,
        probe: CpuProbe | None = None,
    ) -> None:
        self.name = f"stream accept→visible @{rate}/s"
        self.url = f"{gateway_url}/api/ingest"
        self.database_url = database_url
        self.stream = stream
        self.rate = rate
        self.count = max(1, int(rate * seconds))
        self.probe = probe

    async def run(self) -> Result:
        bodies = [
            orjson.dumps({"name": f"S {i}", "email": f"s{i}-{secrets.token_hex(3)}@example.com"})
            for i in range(self.count)
        ]
        completions = Completions(self.database_url)
        stop = asyncio.Event()
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        ) as client:

            async def one(body: bytes) -> None:
                sent = time.perf_counter()
                request_id, error = await _post(client, self.url, self.stream.key, body)
                if request_id is None:
                    errors[error] += 1
                    return
                try:
                    seen = await asyncio.wait_for(completions.watch(request_id), 60)
                except TimeoutError:
                    errors["not visible in 60 s"] += 1
                    return
                latencies.append(seen - sent)

            poller = asyncio.create_task(completions.run(stop))
            before = self.probe.snapshot() if self.probe else None
            started = time.perf_counter()
            async with asyncio.TaskGroup() as group:
                for index, body in enumerate(bodies):
                    # Open loop: request i leaves at i/rate whatever the earlier ones do.
                    delay = started + index / self.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    group.create_task(one(body))
            elapsed = time.perf_counter() - started
            cpu = self.probe.since(before, self.probe.snapshot()) if self.probe and before else None
            stop.set()
            await poller
        return Result(self.name, self.count, elapsed, latencies, errors, completions.outcomes, cpu)


class BatchItems:
    """`batches` arrays of `size` new contacts posted `concurrency` at a time; throughput is
    items per second from the first send to the last completion."""

    def __init__(
        self,
        gateway_url: str,
        database_url: str,
        stream: StreamTarget,
        *,
        batches: int,
        size: int = 1000,
        concurrency: int = 4,
        probe: CpuProbe | None = None,
    ) -> None:
        self.name = f"stream {size}-item arrays"
        self.url = f"{gateway_url}/api/ingest"
        self.database_url = database_url
        self.stream = stream
        self.batches = batches
        self.size = size
        self.concurrency = concurrency
        self.probe = probe

    async def run(self) -> Result:
        tag = secrets.token_hex(3)
        bodies = [
            orjson.dumps(
                [
                    {"name": f"B {b}-{i}", "email": f"b{b}-{i}-{tag}@example.com"}
                    for i in range(self.size)
                ]
            )
            for b in range(self.batches)
        ]
        completions = Completions(self.database_url)
        stop = asyncio.Event()
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        gate = asyncio.Semaphore(self.concurrency)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as client:

            async def one(body: bytes) -> None:
                async with gate:
                    sent = time.perf_counter()
                    request_id, error = await _post(client, self.url, self.stream.key, body)
                    if request_id is None:
                        errors[error] += 1
                        return
                    seen = await asyncio.wait_for(completions.watch(request_id), 300)
                    latencies.append(seen - sent)

            poller = asyncio.create_task(completions.run(stop))
            before = self.probe.snapshot() if self.probe else None
            started = time.perf_counter()
            async with asyncio.TaskGroup() as group:
                for body in bodies:
                    group.create_task(one(body))
            elapsed = time.perf_counter() - started
            cpu = self.probe.since(before, self.probe.snapshot()) if self.probe and before else None
            stop.set()
            await poller
        return Result(
            self.name + " (items)",
            self.batches * self.size,
            elapsed,
            latencies,
            errors,
            completions.outcomes,
            cpu,
        )


class CopyUpsertCeiling:
    """The same items written the fastest way PostgreSQL allows from Python: per array, one
    transaction that COPYs into a temp table and upserts records and their e-mail keys with
    set-based SQL. No HTTP, gRPC, validation, normalisation, inbox or per-item outcomes."""

    def __init__(
        self,
        database_url: str,
        target: Target,
        *,
        batches: int,
        size: int = 1000,
        probe: CpuProbe | None = None,
    ):
        self.name = "raw COPY-upsert ceiling (items)"
        self.database_url = database_url
        self.target = target
        self.batches = batches
        self.size = size
        self.probe = probe

    async def run(self) -> Result:
        tag = secrets.token_hex(3)
        latencies: list[float] = []
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            before = self.probe.snapshot() if self.probe else None
            started = time.perf_counter()
            for b in range(self.batches):
                rows = [
                    (f"c{b}-{i}-{tag}@example.com", {"name": f"C {b}-{i}"})
                    for i in range(self.size)
                ]
                began = time.perf_counter()
                await self._upsert(conn, rows)
                latencies.append(time.perf_counter() - began)
            elapsed = time.perf_counter() - started
            cpu = self.probe.since(before, self.probe.snapshot()) if self.probe and before else None
        return Result(
            self.name, self.batches * self.size, elapsed, latencies, Counter(), Counter(), cpu
        )

    async def _upsert(self, conn: psycopg.AsyncConnection[Any], rows: list[Any]) -> None:
        ws, et = self.target.workspace_id, self.target.entity_type_id
        async with conn.transaction():
            await conn.execute("CREATE TEMP TABLE staging (email text, data json) ON COMMIT DROP")
            async with conn.cursor().copy("COPY staging (email, data) FROM STDIN") as copy:
                for email, data in rows:
                    await copy.write_row((email, orjson.dumps({**data, "email": email}).decode()))
            await conn.execute(
                "UPDATE records r SET data = json_merge_exact(r.data, s.data), update_time = now()"
                " FROM staging s JOIN record_keys k ON k.value = s.email"
                " AND k.workspace_id = %(ws)s AND k.entity_type_id = %(et)s"
                " AND k.field_slug = 'email' WHERE r.id = k.record_id",
                {"ws": ws, "et": et},
            )
            await conn.execute(
                "WITH fresh AS (SELECT s.* FROM staging s WHERE NOT EXISTS"
                "  (SELECT 1 FROM record_keys k WHERE k.workspace_id = %(ws)s"
                "   AND k.entity_type_id = %(et)s AND k.field_slug = 'email'"
                "   AND k.value = s.email)),"
                " made AS (INSERT INTO records (workspace_id, entity_type_id, data)"
                "  SELECT %(ws)s, %(et)s, data FROM fresh RETURNING id, data->>'email' AS email)"
                " INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value,"
                "  record_id) SELECT %(ws)s, %(et)s, 'email', email, id FROM made"
                " ON CONFLICT DO NOTHING",
                {"ws": ws, "et": et},
            )


@dataclass(frozen=True)
class StreamSettings:
    rates: tuple[int, ...]  # single-item requests per second, steady; one line each
    seconds: float  # how long the steady rate is held
    batches: int  # 1,000-item arrays in the items/s line
    arrays_in_flight: int = 4  # arrays posted and not yet processed, at most

    @classmethod
    def from_env(cls, environ: Any) -> StreamSettings:
        env = Env(environ)
        return cls(
            rates=_rates(env.text("INLET_BENCH_STREAM_RATES", "500,50")),
            seconds=env.number("INLET_BENCH_STREAM_SECONDS", 6.0, minimum=0.1),
            batches=env.integer("INLET_BENCH_STREAM_BATCHES", 10, minimum=1, maximum=10_000),
            arrays_in_flight=env.integer(
                "INLET_BENCH_ARRAYS_IN_FLIGHT", 4, minimum=1, maximum=1_000
            ),
        )


async def scenarios(
    gateway_url: str,
    database_url: str,
    target: Target,
    settings: StreamSettings,
    probe: CpuProbe | None = None,
) -> list[Any]:
    """The three stream lines: accept→visible, arrays through the suite, the COPY ceiling."""
    stream = await create_stream(database_url, target)
    steady: list[Any] = [
        AcceptToVisible(
            gateway_url, database_url, stream, rate=rate, seconds=settings.seconds, probe=probe
        )
        for rate in settings.rates
    ]
    return [
        *steady,
        BatchItems(
            gateway_url,
            database_url,
            stream,
            batches=settings.batches,
            concurrency=settings.arrays_in_flight,
            probe=probe,
        ),
        CopyUpsertCeiling(database_url, target, batches=settings.batches, probe=probe),
    ]


def _rates(text: str) -> tuple[int, ...]:
    try:
        rates = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        rates = ()
    if not rates or min(rates) < 1:
        raise ConfigError(f"INLET_BENCH_STREAM_RATES must be positive integers, got {text!r}")
    return rates
