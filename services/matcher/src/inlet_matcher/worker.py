"""Workers that process accepted stream requests: claim under a lease (the store uses
FOR UPDATE SKIP LOCKED), plan the items, apply them in chunks, finish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from opentelemetry.trace import SpanKind

from inlet.store.v1 import store_pb2
from inlet_common import requestids, tracing
from inlet_common.errors import InletError
from inlet_matcher.stream import GrpcStreamStore, plan_items
from inlet_matcher.transfer_items import plan_transfer

log = logging.getLogger(__name__)


class Workers:
    """`count` claim loops; wake() starts them at once, otherwise they poll."""

    def __init__(
        self,
        store: GrpcStreamStore,
        *,
        count: int = 4,
        lease_seconds: int = 30,
        poll_seconds: float = 0.2,
        chunk_size: int = 100,
    ) -> None:
        self.store = store
        self.count = count
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.chunk_size = chunk_size
        # One event per idle worker: an accepted request wakes one of them, not all.
        self._idle: list[asyncio.Event] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.name = f"matcher-{secrets.token_hex(4)}"

    def wake(self) -> None:
        if self._idle:
            self._idle.pop().set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(n), name=f"{self.name}-{n}") for n in range(self.count)
        ]

    async def stop(self) -> None:
        """Cancel the loops; a request cut off mid-way is re-claimed when its lease ends."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _loop(self, n: int) -> None:
        worker = f"{self.name}-{n}"
        while True:
            try:
                worked = await self.run_once(worker)
            except InletError:
                # Store unavailable: nothing was claimed; try again after the poll.
                log.warning("stream worker could not claim", exc_info=True)
                worked = False
            except Exception:
                log.exception("stream worker step crashed")
                worked = False
            if not worked:
                woken = asyncio.Event()
                self._idle.append(woken)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), self.poll_seconds)
                if woken in self._idle:
                    self._idle.remove(woken)

    async def run_once(self, worker: str = "") -> bool:
        """Process one request if any is waiting; False when there was none or it failed."""
        claimed = await self.store.claim(worker or self.name, self.lease_seconds)
        if not claimed.claimed:
            return False
        # Failures are logged under the request's id, where its other lines are; the work
        # continues the trace of the call that accepted the request.
        with (
            requestids.bound(claimed.request_id),
            tracing.span(
                "inbox process",
                kind=SpanKind.CONSUMER,
                parent=(
                    {tracing.TRACEPARENT_KEY: claimed.traceparent} if claimed.traceparent else None
                ),
                request_id=claimed.request_id,
            ) as span,
        ):
            if span is not None:
                span.set_attribute("inlet.inbox.source", claimed.source)
            try:
                await self.process(claimed)
            except InletError:
                # Store unavailable or lease lost: the request comes back to some worker.
                log.warning("stream request step failed", exc_info=True)
                tracing.fail(span, "step failed")
                return False
            except Exception:
                log.exception("stream request step crashed")
                tracing.fail(span, "step crashed")
                return False
        return True

    async def process(self, claimed: store_pb2.ClaimStreamRequestResponse) -> str:
        # Under the id the request was accepted with: every line logged and every store
        # call made while processing it carries the id its client was shown.
        with requestids.bound(claimed.request_id):
            if claimed.source == "push":
                return await self.process_transfer(claimed)
            items = plan_items(claimed)
            # At least one call, so a request whose items were all done before is finished.
            starts = range(0, max(len(items), 1), self.chunk_size)
            status = ""
            for start in starts:
                applied = await self.store.apply(
                    store_pb2.ApplyStreamItemsRequest(
                        request_id=claimed.request_id,
                        lease_token=claimed.lease_token,
                        lease_seconds=self.lease_seconds,
                        workspace_id=claimed.workspace_id,
                        items=items[start : start + self.chunk_size],
                        # The last chunk finishes the request in its own transaction.
                        finish=start == starts[-1],
                    )
                )
                status = applied.status
            log.info("stream request processed", extra={"status": status, "items": len(items)})
            return status

    async def process_transfer(self, claimed: store_pb2.ClaimStreamRequestResponse) -> str:
        """A push transfer's items in chunks, in order; each chunk's results, records and
        webhook events commit together, and the last one finishes the transfer."""
        items = plan_transfer(claimed)
        starts = range(0, max(len(items), 1), self.chunk_size)
        status = ""
        for start in starts:
            applied = await self.store.apply_transfer(
                store_pb2.ApplyPushItemsRequest(
                    request_id=claimed.request_id,
                    lease_token=claimed.lease_token,
                    lease_seconds=self.lease_seconds,
                    items=items[start : start + self.chunk_size],
                    finish=start == starts[-1],
                )
            )
            status = applied.status
        log.info(
            "push transfer processed",
            extra={"transfer_id": claimed.push.transfer_id, "items": len(items)},
        )
        return status
