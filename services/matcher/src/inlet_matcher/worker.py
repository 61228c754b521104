"""Workers that process accepted inbox requests: claim a batch under leases (the store uses
FOR UPDATE SKIP LOCKED and holds the call until there is work), plan each request's items,
apply them in chunks, finish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterator
from typing import Any

from opentelemetry.trace import Span, SpanKind

from inlet.store.v1 import store_pb2
from inlet_common import requestids, tracing
from inlet_common.errors import InletError
from inlet_matcher.claim_turn import ClaimTurn
from inlet_matcher.hold import Hold
from inlet_matcher.judged import JudgedItems
from inlet_matcher.stream import GrpcStreamStore
from inlet_matcher.stream_plan import plan_items_sliced, plan_judged_into
from inlet_matcher.transfer_items import plan_transfer

log = logging.getLogger(__name__)


class Workers:
    """`count` claim loops. Each asks the store for a batch of requests (up to
    `batch_size`, `batch_items` items in all) and processes them in order. With none
    waiting, one loop's call waits at the store until a request is committed
    (LISTEN/NOTIFY) or `poll_seconds` pass, and the other loops wait here until it comes
    back with work (ClaimTurn), so an idle matcher makes one call per `poll_seconds`.

    A chunk holds as many items as a claimed batch (`chunk_size` = `batch_items`), so a
    request of up to that many items is applied with the others of its batch in one
    set-based transaction (ApplyStreamRequests), and only larger ones chunk by chunk."""

    def __init__(
        self,
        store: GrpcStreamStore,
        *,
        count: int = 4,
        lease_seconds: int = 30,
        poll_seconds: float = 30.0,
        chunk_size: int = 1000,
        batch_size: int = 32,
        batch_items: int = 1000,
        max_backoff_seconds: float = 5.0,
        hold: Hold | None = None,
        judged: JudgedItems | None = None,
    ) -> None:
        self.store = store
        self.count = count
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.batch_items = batch_items
        self.max_backoff_seconds = max_backoff_seconds
        self.hold = hold  # tests only
        # Items this matcher's accepts normalised (give the same to its StreamIngest).
        self.judged = judged
        # Loops backing off after a failed claim; a wake-up (an accepted request: the
        # store answers again) ends their pause early.
        self._resume = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Which loop's claim may wait at the store: one long poll per matcher.
        self.turn = ClaimTurn()
        self.name = f"matcher-{secrets.token_hex(4)}"

    def wake(self) -> None:
        self._resume.set()

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
        backoff = 0.1
        while True:
            try:
                await self.run_once(worker)
                backoff = 0.1
                continue
            except InletError:
                # Store unavailable: nothing was claimed; try again after a pause.
                log.warning("stream worker could not claim", exc_info=True)
            except Exception:
                log.exception("stream worker step crashed")
            self._resume.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resume.wait(), backoff)
            backoff = min(backoff * 2, self.max_backoff_seconds)

    async def run_once(self, worker: str = "") -> int:
        """Claim a batch (waiting up to poll_seconds for one) and process it; how many
        requests were processed to the end."""
        claims = await self._claim(worker or self.name)
        # Requests that fit in one chunk are applied together, one commit for them all;
        # the rest (big ones, push transfers) one by one, chunk after chunk.
        request = store_pb2.ApplyStreamRequestsRequest()
        together: list[store_pb2.ClaimedStreamRequest] = []
        alone: list[tuple[store_pb2.ClaimedStreamRequest, list[store_pb2.StreamItem] | None]] = []
        for claimed in claims:
            if claimed.source == "push":
                alone.append((claimed, None))
                continue
            # Taken before the first pause: nothing else can take it meanwhile.
            judged = self.judged.take(claimed) if self.judged is not None else None
            if judged is not None and len(judged) <= self.chunk_size:
                # Planned in place in the call: its items are not copied into it.
                if await self._planned_into(claimed, judged, self._entry(request, claimed)):
                    together.append(claimed)
                else:
                    del request.requests[-1]
                    alone.append((claimed, None))
                continue
            items = await self._planned(claimed, judged)
            if items is not None and len(items) <= self.chunk_size:
                self._entry(request, claimed).items.extend(items)
                together.append(claimed)
            else:
                # Planned once: a large request's chunks reuse these items.
                alone.append((claimed, items))
        done = await self._apply_together(request, together) if together else 0
        for claimed, planned in alone:
            done += await self._process_logged(claimed, planned)
        return done

    def _entry(
        self, request: store_pb2.ApplyStreamRequestsRequest, claimed: store_pb2.ClaimedStreamRequest
    ) -> store_pb2.ApplyStreamItemsRequest:
        """A new request of the call, empty of items."""
        return request.requests.add(
            request_id=claimed.request_id,
            lease_token=claimed.lease_token,
            lease_seconds=self.lease_seconds,
            workspace_id=claimed.workspace_id,
            finish=True,
        )

    async def _claim(self, worker: str) -> list[store_pb2.ClaimedStreamRequest]:
        """A batch: this loop's claim waits at the store while it holds the turn; otherwise
        it looks without waiting and, finding nothing, parks until the holder comes back
        with work (one long poll per matcher, not one per loop)."""
        while True:
            if self.turn.take():
                claims: list[store_pb2.ClaimedStreamRequest] = []
                try:
                    claims = await self._claim_now(worker, self.poll_seconds)
                finally:
                    # Back with work: another loop waits at the store while this one
                    # works, so a request committed meanwhile is claimed at once. Back
                    # empty (or failed), this loop waits again itself.
                    self.turn.release(handed_on=bool(claims))
                return claims
            claims = await self._claim_now(worker, 0.0)
            if claims:
                return claims
            await self.turn.wait()

    async def _claim_now(
        self, worker: str, wait_seconds: float
    ) -> list[store_pb2.ClaimedStreamRequest]:
        return await self.store.claim(
            worker,
            self.lease_seconds,
            max_requests=self.batch_size,
            max_items=self.batch_items,
            wait_seconds=wait_seconds,
        )

    async def _planned(
        self, claimed: store_pb2.ClaimedStreamRequest, judged: list[dict[str, Any]] | None = None
    ) -> list[store_pb2.StreamItem] | None:
        with requestids.bound(claimed.request_id):
            try:
                return await plan_items_sliced(claimed, judged)
            except Exception:
                log.exception("planning a stream request crashed")
                return None

    async def _planned_into(
        self,
        claimed: store_pb2.ClaimedStreamRequest,
        judged: list[dict[str, Any]],
        entry: store_pb2.ApplyStreamItemsRequest,
    ) -> bool:
        with requestids.bound(claimed.request_id):
            try:
                await plan_judged_into(claimed, judged, entry.items)
            except Exception:
                log.exception("planning a stream request crashed")
                return False
        return True

    async def _apply_together(
        self,
        request: store_pb2.ApplyStreamRequestsRequest,
        batch: list[store_pb2.ClaimedStreamRequest],
    ) -> int:
        """One ApplyStreamRequests call (`request`, one entry per request of `batch`); a
        request it could not apply for a reason of its own (not a lost lease) is tried again
        alone, where its failure is logged."""
        # A batch of one is sent under its request's id, as ApplyStreamItems would be.
        alone_id = batch[0].request_id if len(batch) == 1 else ""
        # A batch of one continues its request's trace; a larger one starts its own.
        traced = _traced(batch[0]) if len(batch) == 1 else contextlib.nullcontext(None)
        try:
            with requestids.bound(alone_id), traced:
                applied = await self.store.apply_many(request)
        except InletError:
            # Store unavailable: every lease runs out and the requests come back.
            log.warning("applying stream requests failed", exc_info=True)
            return 0
        done = 0
        for claimed, entry, result in zip(batch, request.requests, applied.results, strict=True):
            with requestids.bound(claimed.request_id):
                if not result.error_reason:
                    log.info(
                        "stream request processed",
                        extra={"status": result.status, "items": len(entry.items)},
                    )
                    done += 1
                elif result.error_reason == "LEASE_LOST":
                    log.warning("stream request lease lost: %s", result.error_message)
                else:
                    done += await self._process_logged(claimed, list(entry.items))
        return done

    async def _process_logged(
        self,
        claimed: store_pb2.ClaimedStreamRequest,
        planned: list[store_pb2.StreamItem] | None = None,
    ) -> bool:
        # Failures are logged under the request's id, where its other lines are; the work
        # continues the trace of the call that accepted the request.
        with requestids.bound(claimed.request_id), _traced(claimed) as span:
            try:
                await self.process(claimed, planned)
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

    async def process(
        self,
        claimed: store_pb2.ClaimedStreamRequest,
        planned: list[store_pb2.StreamItem] | None = None,
    ) -> str:
        """Apply `claimed` chunk by chunk (its items planned here unless `planned` is given)."""
        # Under the id the request was accepted with: every line logged and every store
        # call made while processing it carries the id its client was shown.
        with requestids.bound(claimed.request_id):
            if claimed.source == "push":
                return await self.process_transfer(claimed)
            items = await plan_items_sliced(claimed) if planned is None else planned
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
                if self.hold is not None:
                    await self.hold.chunk_applied()
            log.info("stream request processed", extra={"status": status, "items": len(items)})
            return status

    async def process_transfer(self, claimed: store_pb2.ClaimedStreamRequest) -> str:
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


@contextlib.contextmanager
def _traced(claimed: store_pb2.ClaimedStreamRequest) -> Iterator[Span | None]:
    """The span of processing `claimed`, under the trace of the call that accepted it."""
    parent = {tracing.TRACEPARENT_KEY: claimed.traceparent} if claimed.traceparent else None
    with tracing.span(
        "inbox process", kind=SpanKind.CONSUMER, parent=parent, request_id=claimed.request_id
    ) as span:
        if span is not None:
            span.set_attribute("inlet.inbox.source", claimed.source)
        yield span
