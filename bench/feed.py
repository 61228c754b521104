"""The live feed's latency: single-item pushes sent open-loop at a steady rate, each timed
to its change arriving on an SSE subscriber of the stream (through the gateway, as a
connected client follows it) — from its send (push→SSE, ingestion included), or from its
processing (processed→SSE: the change's time, taken in the transaction that applied the
item, to its receipt; the bench and PostgreSQL share the machine's clock)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from datetime import datetime

import aiohttp
import orjson
import psycopg

from bench.cpu import CpuProbe
from bench.scenario import Result
from bench.stream_ingest import StreamTarget, _post
from inlet_common.credentials import token_hash
from inlet_store import read_keys


async def create_read_key(database_url: str, stream: StreamTarget) -> str:
    """A read key of the stream, written with SQL as the bench's streams are."""
    token_id, secret = secrets.token_hex(8), secrets.token_hex(32)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO read_keys (id, stream_id, secret_hash)"
            " SELECT %s, id, %s FROM streams WHERE slug = %s",
            (token_id, token_hash(secret), stream.slug),
        )
    return f"{read_keys.KIND}_{token_id}_{secret}"


class FeedLatency:
    """`rate` single-item requests per second for `seconds`; a sample is push → SSE receipt."""

    def __init__(
        self,
        gateway_url: str,
        database_url: str,
        stream: StreamTarget,
        *,
        rate: int,
        seconds: float,
        probe: CpuProbe | None = None,
        from_processing: bool = False,
    ) -> None:
        self.from_processing = from_processing
        self.name = f"feed {'processed' if from_processing else 'push'}→SSE @{rate}/s"
        self.gateway_url = gateway_url
        self.database_url = database_url
        self.stream = stream
        self.rate = rate
        self.count = max(1, int(rate * seconds))
        self.probe = probe

    async def run(self) -> Result:
        tag = secrets.token_hex(3)
        emails = [f"f{i}-{tag}@example.com" for i in range(self.count)]
        sent: dict[str, float] = {}
        received: dict[str, float] = {}
        # Seconds from each change's processing to its receipt.
        since_processed: dict[str, float] = {}
        errors: Counter[str] = Counter()
        everything = asyncio.Event()
        key = await create_read_key(self.database_url, self.stream)
        feed_url = f"{self.gateway_url}/api/streams/{self.stream.slug}/feed"
        ingest_url = f"{self.gateway_url}/api/ingest"
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256), timeout=aiohttp.ClientTimeout(total=None)
            ) as client,
            client.get(feed_url, headers={"authorization": f"Bearer {key}"}) as feed,
        ):
            if feed.status != 200:
                errors[f"feed HTTP {feed.status}"] += 1
                return Result(self.name, self.count, 0.0, [], errors)
            opened = asyncio.Event()

            async def follow() -> None:
                async for raw in feed.content:
                    line = raw.rstrip(b"\n")
                    if line.startswith(b":"):
                        opened.set()
                    elif line.startswith(b"data: "):
                        now, wall = time.perf_counter(), time.time()
                        change = orjson.loads(line[6:])
                        item = change["item_key"]
                        received.setdefault(item, now)
                        applied = datetime.fromisoformat(change["change_time"])
                        since_processed.setdefault(item, wall - applied.timestamp())
                        if len(received) >= self.count:
                            everything.set()
                            return

            reader = asyncio.create_task(follow())
            await asyncio.wait_for(opened.wait(), 30)

            async def one(email: str) -> None:
                body = orjson.dumps({"name": "Feed", "email": email})
                sent[email] = time.perf_counter()
                request_id, error = await _post(
                    client, ingest_url, self.stream.key, body, item_key="email"
                )
                if request_id is None:
                    errors[error] += 1

            before = self.probe.snapshot() if self.probe else None
            started = time.perf_counter()
            async with asyncio.TaskGroup() as group:
                for index, email in enumerate(emails):
                    delay = started + index / self.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    group.create_task(one(email))
            try:
                await asyncio.wait_for(everything.wait(), 60)
            except TimeoutError:
                errors["not on the feed in 60 s"] += self.count - len(received)
            elapsed = time.perf_counter() - started
            cpu = self.probe.since(before, self.probe.snapshot()) if self.probe and before else None
            reader.cancel()
        if self.from_processing:
            latencies = [since_processed[e] for e in emails if e in since_processed]
        else:
            latencies = [received[e] - sent[e] for e in emails if e in received and e in sent]
        return Result(self.name, self.count, elapsed, latencies, errors, cpu=cpu)
