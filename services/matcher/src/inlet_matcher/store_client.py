"""The matcher's port to the store, and its gRPC adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol, TypeVar

import grpc
from google.rpc import status_pb2

from inlet.store.v1 import store_pb2, store_pb2_grpc
from inlet_common import logs, requestids, tracing
from inlet_common.errors import InletError, Unavailable, UpstreamError, status_from_rpc_error
from inlet_common.group_commit import GroupCommit

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class StorePort(Protocol):
    async def commit_push(
        self, request: store_pb2.CommitPushRequest
    ) -> store_pb2.CommitPushResponse: ...


class GrpcStore:
    """StorePort over gRPC: errors come back as UpstreamError with the store's status."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float, *, max_batch: int = 64) -> None:
        self._stub = store_pb2_grpc.StoreServiceStub(channel)
        self._timeout = timeout
        # Pushes in hand at once go to the store in one CommitPushes call: a call costs
        # both processes far more CPU than the bytes of a push. A lone push goes at once.
        self._pushes: GroupCommit[store_pb2.CommitPushCall, store_pb2.CommitPushResponse] = (
            GroupCommit(self._commit_pushes, max_batch=max_batch)
        )

    async def _call(
        self,
        method: Callable[..., Awaitable[T]],
        request: Any,
        *,
        deadline: float | None = None,
        carry_ids: bool = True,
    ) -> T:
        try:
            # wait_for_ready: while the store restarts the call waits (within its deadline)
            # for the connection instead of failing at once; it is sent only once connected.
            return await method(
                request,
                timeout=deadline or self._timeout,
                wait_for_ready=True,
                # The request's ids travel on, so the store logs under the same id.
                metadata=requestids.outgoing() if carry_ids else (),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(f"store unavailable: {error.details()}") from error
            raise UpstreamError(status_from_rpc_error(error)) from error

    async def commit_push(
        self, request: store_pb2.CommitPushRequest
    ) -> store_pb2.CommitPushResponse:
        # The ids and trace are the caller's: the batch is sent from another task.
        call = store_pb2.CommitPushCall(
            push=request,
            request_id=logs.request_id.get(),
            client_request_id=logs.client_request_id.get(),
            traceparent=tracing.traceparent() or "",
        )
        return await self._pushes.submit(call)

    async def _commit_pushes(
        self, calls: list[store_pb2.CommitPushCall]
    ) -> list[store_pb2.CommitPushResponse | Exception]:
        request = store_pb2.CommitPushesRequest(pushes=calls)
        try:
            # Each push carries its own ids and trace; the call carries none of them.
            answer = await self._call(self._stub.CommitPushes, request, carry_ids=False)
        except InletError as error:
            return [error] * len(calls)
        return answers_of(answer.results, len(calls))


class _Result(Protocol[T_co]):
    """One answer of a batched call: its response, or its error (google.rpc.Status)."""

    @property
    def response(self) -> T_co: ...
    @property
    def error(self) -> status_pb2.Status: ...
    def HasField(self, field_name: Literal["error"]) -> bool: ...


def answers_of(results: Sequence[_Result[T_co]], sent: int) -> list[T_co | Exception]:
    """Each call's response or error (as UpstreamError, carrying the store's status); all
    failed alike when the store did not answer every one."""
    if len(results) != sent:
        wrong = InletError(f"store answered {len(results)} of {sent} calls")
        return [wrong] * sent
    return [
        UpstreamError(found.error) if found.HasField("error") else found.response
        for found in results
    ]
