"""The matcher's port to the store, and its gRPC adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc

from inlet.store.v1 import store_pb2, store_pb2_grpc
from inlet_common import requestids
from inlet_common.errors import Unavailable, UpstreamError, status_from_rpc_error

T = TypeVar("T")


class StorePort(Protocol):
    async def commit_push(
        self, request: store_pb2.CommitPushRequest
    ) -> store_pb2.CommitPushResponse: ...


class GrpcStore:
    """StorePort over gRPC: errors come back as UpstreamError with the store's status."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = store_pb2_grpc.StoreServiceStub(channel)
        self._timeout = timeout

    async def _call(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        try:
            # wait_for_ready: while the store restarts the call waits (within its deadline)
            # for the connection instead of failing at once; it is sent only once connected.
            return await method(
                request,
                timeout=self._timeout,
                wait_for_ready=True,
                # The request's ids travel on, so the store logs under the same id.
                metadata=requestids.outgoing(),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(f"store unavailable: {error.details()}") from error
            raise UpstreamError(status_from_rpc_error(error)) from error

    async def commit_push(
        self, request: store_pb2.CommitPushRequest
    ) -> store_pb2.CommitPushResponse:
        return await self._call(self._stub.CommitPush, request)
