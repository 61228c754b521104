"""Twin calls in batches: an edge sends the HTTP-twin calls it has in hand at once in one
TwinCallService.CallTwins call; the service runs each through its own interceptors and
handler as if it had come alone, and answers each as it would have been answered.

A gRPC call costs both processes far more CPU than the bytes of a request, so under load
one call per request was most of what the gateway and the matcher did. A lone request is
sent at once, and what comes while a batch is out forms the next; each reply streams back
as soon as its call is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from inlet.edge.v1 import twin_calls_pb2
from inlet_common.errors import STATUS_DETAILS_KEY, InvalidArgument, grpc_code

log = logging.getLogger(__name__)

SERVICE = "inlet.edge.v1.TwinCallService"
CALL_TWINS = f"/{SERVICE}/CallTwins"
MAX_CALLS = 256

Metadata = Sequence[tuple[str, str | bytes]]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Any]]


def _entries(metadata: Iterable[tuple[str, Any]] | None) -> list[twin_calls_pb2.MetadataEntry]:
    return [
        twin_calls_pb2.MetadataEntry(
            key=key, value=value if isinstance(value, bytes) else str(value).encode("latin-1")
        )
        for key, value in metadata or ()
    ]


def _pairs(entries: Iterable[twin_calls_pb2.MetadataEntry]) -> tuple[tuple[str, Any], ...]:
    return tuple(
        (e.key, e.value if e.key.endswith("-bin") else e.value.decode("latin-1")) for e in entries
    )


# --- serving ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Details:
    """grpc.HandlerCallDetails of one call inside a batch."""

    method: str
    invocation_metadata: tuple[tuple[str, Any], ...]


class _Aborted(Exception):
    pass


class _CallContext:
    """The servicer context of one call inside a batch: what it sends and how it ends are
    kept for its reply; the rest (deadline, peer) is the batch call's."""

    def __init__(self, outer: Any, metadata: tuple[tuple[str, Any], ...]) -> None:
        self._outer = outer
        self._metadata = metadata
        self.initial: list[tuple[str, Any]] = []
        self.trailing: list[tuple[str, Any]] = []
        self.code = grpc.StatusCode.OK
        self.details = ""

    def invocation_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self._metadata

    async def send_initial_metadata(self, metadata: Metadata) -> None:
        self.initial.extend(metadata)

    def set_trailing_metadata(self, metadata: Metadata) -> None:
        self.trailing = list(metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()
    ) -> None:
        self.code, self.details = code, details
        if trailing_metadata:
            self.trailing = list(trailing_metadata)
        # What grpc.aio raises from abort(): the interceptors let it through untouched.
        raise grpc.aio.AbortError()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outer, name)


class TwinCallServer:
    """CallTwins over a server's twin handlers, through the server's own interceptors."""

    def __init__(
        self,
        handlers: Sequence[grpc.GenericRpcHandler[Any, Any]],
        interceptors: Sequence[grpc.aio.ServerInterceptor],  # type: ignore[type-arg]
    ) -> None:
        self._handlers = list(handlers)
        # The server's interceptor chain around the handler lookup, built once.
        continuation: Continuation = self._resolve
        for interceptor in reversed(list(interceptors)):
            continuation = _chained(interceptor, continuation)
        self._lookup = continuation

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "CallTwins": grpc.unary_stream_rpc_method_handler(
                    self.call_twins,
                    request_deserializer=twin_calls_pb2.CallTwinsRequest.FromString,
                    response_serializer=twin_calls_pb2.CallTwinsResponse.SerializeToString,
                )
            },
        )

    async def call_twins(
        self, request: twin_calls_pb2.CallTwinsRequest, context: Any
    ) -> AsyncIterator[twin_calls_pb2.CallTwinsResponse]:
        if not request.calls or len(request.calls) > MAX_CALLS:
            message = f"calls: 1 to {MAX_CALLS} calls per batch, got {len(request.calls)}"
            status = InvalidArgument(message, reason="INVALID_BATCH").to_status()
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                status.message,
                trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),),
            )
        # Run together; each reply goes out as soon as its call is done, so a slow call
        # (a synchronous push transfer, a webhook test) holds up no other. The replies of
        # calls done by the time this wakes go out in one message: calls that shared a
        # store commit finish together, and one message is one write here and one read at
        # the edge instead of one per call.
        running = {
            asyncio.create_task(self._run(index, call, context))
            for index, call in enumerate(request.calls)
        }
        try:
            while running:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                yield twin_calls_pb2.CallTwinsResponse(
                    replies=sorted((task.result() for task in done), key=lambda r: r.index)
                )
        finally:
            for task in running:
                task.cancel()

    async def _resolve(self, found: grpc.HandlerCallDetails) -> Any:
        for generic in self._handlers:
            handler = generic.service(found)
            if handler is not None:
                return handler
        return None

    async def _run(
        self, index: int, call: twin_calls_pb2.TwinCall, outer: Any
    ) -> twin_calls_pb2.TwinReply:
        metadata = _pairs(call.metadata)
        context = _CallContext(outer, metadata)
        handler = await self._lookup(_Details(call.method, metadata))  # type: ignore[arg-type]
        if handler is None or handler.unary_unary is None:
            return twin_calls_pb2.TwinReply(
                index=index,
                code=grpc.StatusCode.UNIMPLEMENTED.value[0],
                details=f"no twin method {call.method}",
            )
        response = b""
        try:
            deserialize = handler.request_deserializer
            request = deserialize(call.request) if deserialize is not None else call.request
            answer = await handler.unary_unary(request, context)
            serialize = handler.response_serializer
            response = serialize(answer) if serialize is not None else answer
        except grpc.aio.AbortError:
            pass
        except Exception:
            # The interceptors map every error; this is one that got past them.
            log.exception("unhandled error in %s", call.method)
            context.code, context.details = grpc.StatusCode.INTERNAL, "internal error"
        return twin_calls_pb2.TwinReply(
            index=index,
            code=context.code.value[0],
            details=context.details,
            initial_metadata=_entries(context.initial),
            trailing_metadata=_entries(context.trailing),
            response=response,
        )


def _chained(
    interceptor: grpc.aio.ServerInterceptor,  # type: ignore[type-arg]
    inner: Continuation,
) -> Continuation:
    async def continuation(details: grpc.HandlerCallDetails) -> Any:
        return await interceptor.intercept_service(inner, details)

    return continuation


# --- calling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    method: str
    request: bytes
    metadata: Metadata
    timeout: float


Outcome = tuple[bytes, grpc.aio.Metadata]

# The next batch waits for one out to be answered (what comes meanwhile joins it), but no
# longer than this: a slow call in it holds up the next calls by at most this long.
PACE_SECONDS = 0.02


class TwinCaller:
    """Twin calls to one upstream, batched: what the caller gets is the call's answer and
    initial metadata, or the grpc.aio.AioRpcError it would have raised alone.

    A lone call goes at once; calls that come while a batch is out form the next one, sent
    when one out is answered — or at once when `min_batch` of them have come and fewer than
    `max_in_flight` are out, so the upstream works on one batch while the one before waits
    on its store (one batch at a time made every stage wait for the others in turn)."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        max_batch: int = 64,
        max_in_flight: int = 4,
        min_batch: int = 8,
    ) -> None:
        self._channel = channel
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._min_batch = min_batch
        self._alone: dict[str, grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]] = {}
        self._call_twins = channel.unary_stream(
            CALL_TWINS,
            request_serializer=twin_calls_pb2.CallTwinsRequest.SerializeToString,
            response_deserializer=twin_calls_pb2.CallTwinsResponse.FromString,
        )
        self._pending: list[tuple[_Pending, asyncio.Future[Outcome]]] = []
        self._draining: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def idle(self) -> bool:
        """No call waits to be sent and no batch is out (one may outlive its callers)."""
        return not self._pending and not self._sending and self._draining is None

    async def call(
        self, method: str, request: bytes, *, metadata: Metadata, deadline: float
    ) -> Outcome:
        """`deadline`: seconds the call may take."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((_Pending(method, request, metadata, deadline), future))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        # A timer settling the future, not wait_for and shield: a third of the cost per call.
        # A caller cancelled meanwhile (its client left) cancels the future, which its batch
        # then skips or leaves unsettled.
        timer = loop.call_later(deadline, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def _drain(self) -> None:
        try:
            while self._pending:
                if self._sending and (
                    len(self._sending) >= self._max_in_flight
                    or len(self._pending) < self._min_batch
                ):
                    # Few calls, or enough batches out: these wait for one to be answered
                    # (joined meanwhile by what comes), at most the pace.
                    done, _ = await asyncio.wait(
                        set(self._sending),
                        timeout=PACE_SECONDS,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if done:
                        continue
                taken = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                batch = [(p, f) for p, f in taken if not f.done()]
                if not batch:
                    continue
                # Sent at once when none is out (a lone call never waits), or when enough
                # have come while others are out: the upstream plans one batch while the
                # store commits the one before, instead of every stage waiting its turn.
                sending = asyncio.create_task(self._send(batch))
                self._sending.add(sending)
                sending.add_done_callback(self._sending.discard)
                await asyncio.sleep(0)  # the batch's call starts before the next is weighed
        finally:
            self._draining = None

    async def _send(self, batch: list[tuple[_Pending, asyncio.Future[Outcome]]]) -> None:
        try:
            await self._send_batch(batch)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                # An upstream that serves twins but not batches (an older release during
                # a rolling deploy): each call alone, as before.
                await asyncio.gather(*(self._send_alone(p, f) for p, f in batch))
            else:
                _settle_all(batch, error)
        except Exception as error:  # noqa: BLE001 - every caller is told, none hangs
            _settle_all(batch, _error(grpc.StatusCode.INTERNAL, f"batch failed: {error}"))
        finally:
            _settle_all(batch, _error(grpc.StatusCode.INTERNAL, "no reply to the call"))

    async def _send_batch(self, batch: list[tuple[_Pending, asyncio.Future[Outcome]]]) -> None:
        request = twin_calls_pb2.CallTwinsRequest(
            calls=[
                twin_calls_pb2.TwinCall(
                    method=p.method, metadata=_entries(p.metadata), request=p.request
                )
                for p, _ in batch
            ]
        )
        stream = self._call_twins(request, timeout=max(p.timeout for p, _ in batch))
        async for answer in stream:
            for reply in answer.replies:
                if 0 <= reply.index < len(batch):
                    _settle(batch[reply.index][1], _outcome(reply))

    async def _send_alone(self, pending: _Pending, future: asyncio.Future[Outcome]) -> None:
        found = self._alone.get(pending.method)
        if found is None:
            found = self._channel.unary_unary(
                pending.method, request_serializer=None, response_deserializer=None
            )
            self._alone[pending.method] = found
        call = found(pending.request, metadata=pending.metadata, timeout=pending.timeout)
        try:
            _settle(future, (await call, await call.initial_metadata()))
        except grpc.aio.AioRpcError as error:
            _settle(future, error)


def _settle(future: asyncio.Future[Outcome], outcome: Outcome | Exception) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(batch: list[tuple[_Pending, asyncio.Future[Outcome]]], error: Exception) -> None:
    for _, future in batch:
        _settle(future, error)


def _expire(future: asyncio.Future[Outcome]) -> None:
    _settle(future, _error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))


def _error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details, None)


def _outcome(reply: twin_calls_pb2.TwinReply) -> Outcome | Exception:
    initial = grpc.aio.Metadata(*_pairs(reply.initial_metadata))
    if reply.code == grpc.StatusCode.OK.value[0]:
        return reply.response, initial
    return grpc.aio.AioRpcError(
        grpc_code(reply.code),
        initial,
        grpc.aio.Metadata(*_pairs(reply.trailing_metadata)),
        reply.details,
        None,
    )
