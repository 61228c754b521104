"""The outbox relay: moves committed outbox rows to the notifier, at least once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from psycopg_pool import AsyncConnectionPool

from inlet.notifier.v1 import notifier_pb2, notifier_pb2_grpc
from inlet_common import exactjson
from inlet_store import repository as repo

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[notifier_pb2.Event]], Awaitable[None]]


def grpc_publisher(channel: grpc.aio.Channel, timeout: float) -> Publish:
    """Publish through NotifierService.PublishEvents (which ignores ids it has seen)."""
    stub = notifier_pb2_grpc.NotifierServiceStub(channel)

    async def publish(events: Sequence[notifier_pb2.Event]) -> None:
        await stub.PublishEvents(notifier_pb2.PublishEventsRequest(events=events), timeout=timeout)

    return publish


def event_pb(row: dict[str, Any]) -> notifier_pb2.Event:
    occurred = timestamp_pb2.Timestamp()
    occurred.FromDatetime(row["occur_time"])
    target = row.get("target")
    return notifier_pb2.Event(
        id=row["id"],
        workspace_id=str(row["workspace_id"]),
        type=row["type"],
        occur_time=occurred,
        data=exactjson.to_raw(row["data"]),
        target=(
            notifier_pb2.Target(
                endpoint_id=target["endpoint_id"],
                url=target["url"],
                ordering_key=target.get("ordering_key", ""),
                ordering_seq=int(target.get("ordering_seq", 0)),
            )
            if target
            else None
        ),
        traceparent=row.get("traceparent") or "",
    )


class Relay:
    """Claims a batch (SKIP LOCKED), publishes it, deletes it, commits; repeats.

    A crash after publishing and before the commit leaves the rows in place, so they are
    published again with the same ids: at least once, never lost, deduplicated downstream.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        publish: Publish,
        *,
        batch_size: int = 200,
        poll_seconds: float = 0.1,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self.pool = pool
        self.publish = publish
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def relay_once(self) -> int:
        """Publish one batch; the number of events published (0: the outbox is empty)."""
        async with self.pool.connection() as conn, conn.transaction():
            rows = await repo.rows(conn, "claim_outbox_events", limit=self.batch_size)
            if not rows:
                return 0
            await self.publish([event_pb(r) for r in rows])
            await repo.execute(conn, "delete_outbox_events", ids=[r["id"] for r in rows])
        return len(rows)

    async def run(self) -> None:
        backoff = self.poll_seconds
        while not self._stopping.is_set():
            try:
                published = await self.relay_once()
                backoff = self.poll_seconds
            except Exception as error:  # noqa: BLE001 - the relay must outlive any failure
                # Notifier down or database away: the rows stay; try again, backing off.
                log.warning("outbox relay failed; retrying", extra={"error": repr(error)})
                published = 0
                backoff = min(backoff * 2, self.max_backoff_seconds)
            if published:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
