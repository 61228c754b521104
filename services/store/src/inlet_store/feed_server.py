"""StreamFeedService: a stream's current items, and its live feed with a bounded buffer
per subscription.

Each subscription has a producer, reading the change log after the last position it
fetched whenever the hub wakes it, and the RPC itself, writing what the producer queued.
The queue holds at most `buffer` changes. When it is full the producer waits up to
`stall_seconds` for the reader to make room; a reader that does not is dropped: it is
sent what was already queued, then `dropped` with the position to resume after, and the
call ends. So a slow reader holds at most `buffer` changes, and ingestion never waits for
anyone: writers only append to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from inlet.ingest.v1 import feed_pb2, feed_pb2_grpc
from inlet_common import exactjson
from inlet_common.admin.timestamps import timestamp
from inlet_common.errors import InletError, Violation
from inlet_store.feed import Feed, FeedSettings, FeedUnauthorized, Reader, last_event_id
from inlet_store.feed_hub import FeedHub
from inlet_store.streams import InvalidPayload

log = logging.getLogger(__name__)

DROPPED = Counter("inlet_feed_dropped_total", "Feed subscriptions dropped for falling behind")


@dataclass(frozen=True)
class _Dropped:
    position: int


def change_pb(stream: str, row: dict[str, Any]) -> feed_pb2.StreamItemChange:
    return feed_pb2.StreamItemChange(
        position=row["position"],
        stream=stream,
        item_key=row["item_key"],
        record_id=str(row["record_id"]),
        action=row["action"],
        values=exactjson.to_raw(row["data"]),
        request_id=row["request_id"],
        change_time=timestamp(row["create_time"]),
    )


def item_pb(row: dict[str, Any]) -> feed_pb2.StreamItem:
    return feed_pb2.StreamItem(
        item_key=row["item_key"],
        record_id=str(row["record_id"]),
        values=exactjson.to_raw(row["data"]),
        position=row["position"],
        update_time=timestamp(row["update_time"]),
    )


class StreamFeedServicer(feed_pb2_grpc.StreamFeedServiceServicer):
    def __init__(self, feed: Feed, hub: FeedHub, settings: FeedSettings) -> None:
        self.feed = feed
        self.hub = hub
        self.settings = settings

    async def ListStreamItems(
        self, request: feed_pb2.ListStreamItemsRequest, context: Any
    ) -> feed_pb2.ListStreamItemsResponse:
        reader = await self.feed.authenticate(context.invocation_metadata(), request.stream)
        page, token, head = await self.feed.items(reader, request.page_size, request.page_token)
        return feed_pb2.ListStreamItemsResponse(
            items=[item_pb(r) for r in page], next_page_token=token, position=head
        )

    # Written with context.write (not yielded), so a write can be awaited like any other.
    async def WatchStream(  # type: ignore[override]
        self, request: feed_pb2.WatchStreamRequest, context: Any
    ) -> None:
        metadata = context.invocation_metadata()
        reader = await self.feed.authenticate(metadata, request.stream)
        head = await self.feed.head(reader.stream_id)
        resume = last_event_id(metadata)
        start = resume if resume is not None else (request.after_position or head)
        if start < 0 or start > head:
            message = f"position {start} is past the stream's current position {head}"
            field = "Last-Event-ID" if resume is not None else "after_position"
            raise InvalidPayload(message, violations=[Violation(field, message, "INVALID")])
        if await self.feed.pruned(reader.stream_id, start, head):
            # Silently skipping would lose changes: the client re-reads the current items
            # (ListStreamItems answers the position to resume after) instead.
            message = (
                f"the changes after position {start} are no longer kept; read the stream's"
                " items and resume after the position they answer"
            )
            field = "Last-Event-ID" if resume is not None else "after_position"
            raise InvalidPayload(message, violations=[Violation(field, message, "POSITION_PRUNED")])
        queue: asyncio.Queue[dict[str, Any] | _Dropped | InletError] = asyncio.Queue(
            max(1, self.settings.buffer)
        )
        with self.hub.subscribe(reader.stream_id) as wake:
            producer = asyncio.create_task(self._produce(reader, start, queue, wake))
            try:
                await self._deliver(reader, start, queue, context)
            finally:
                producer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producer

    async def _deliver(
        self,
        reader: Reader,
        position: int,
        queue: asyncio.Queue[dict[str, Any] | _Dropped | InletError],
        context: Any,
    ) -> None:
        heartbeat = self.settings.heartbeat_seconds
        await context.write(
            feed_pb2.WatchStreamResponse(heartbeat=feed_pb2.Heartbeat(position=position))
        )
        checked = time.monotonic()
        while True:
            if time.monotonic() - checked >= heartbeat:
                # A busy feed is checked as often as an idle one.
                if not await self.feed.key_live(reader):
                    raise FeedUnauthorized("the read key was revoked")
                checked = time.monotonic()
            try:
                entry = await asyncio.wait_for(queue.get(), heartbeat)
            except TimeoutError:
                if not await self.feed.key_live(reader):
                    raise FeedUnauthorized("the read key was revoked") from None
                checked = time.monotonic()
                await context.write(
                    feed_pb2.WatchStreamResponse(heartbeat=feed_pb2.Heartbeat(position=position))
                )
                continue
            if isinstance(entry, InletError):
                raise entry
            if isinstance(entry, _Dropped):
                reason = (
                    f"the reader fell more than {self.settings.buffer} changes behind;"
                    " reconnect with Last-Event-ID to resume"
                )
                await context.write(
                    feed_pb2.WatchStreamResponse(
                        dropped=feed_pb2.Dropped(position=entry.position, reason=reason)
                    )
                )
                return
            await context.write(
                feed_pb2.WatchStreamResponse(change=change_pb(reader.stream, entry))
            )
            position = entry["position"]

    async def _produce(
        self,
        reader: Reader,
        fetched: int,
        queue: asyncio.Queue[dict[str, Any] | _Dropped | InletError],
        wake: asyncio.Event,
    ) -> None:
        settings = self.settings
        page = max(1, min(settings.page, settings.buffer))
        try:
            while True:
                # Cleared before looking, so a change committed meanwhile wakes us again.
                wake.clear()
                # Never more than the buffer holds: at most two buffers' worth in memory.
                rows = await self.feed.after(reader.stream_id, fetched, page)
                for row in rows:
                    try:
                        await asyncio.wait_for(queue.put(row), settings.stall_seconds)
                    except TimeoutError:
                        DROPPED.inc()
                        log.info(
                            "feed reader dropped: it fell behind its buffer",
                            extra={"stream": reader.stream, "position": fetched},
                        )
                        # Sent once the reader took what is queued: bounded, and in order.
                        await queue.put(_Dropped(fetched))
                        return
                    fetched = row["position"]
                if len(rows) == page:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), settings.poll_seconds)
        except InletError as error:
            await queue.put(error)
