"""The console's one path to data: the admin API's gRPC services, with the signed-in token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf import message

from inlet.admin.v1 import admin_pb2_grpc, integrations_pb2_grpc, push_pb2_grpc, streams_pb2_grpc
from inlet.ingest.v1 import feed_pb2, feed_pb2_grpc
from inlet.notifier.v1 import webhooks_pb2_grpc
from inlet_common import requestids
from inlet_common.errors import reason_of, status_from_rpc_error, violations_of
from inlet_gateway.sse import Streaming

R = TypeVar("R", bound=message.Message)
ChannelFor = Callable[[str], grpc.aio.Channel]


class ApiError(Exception):
    """An admin API refusal, in words a person can act on (never the token)."""

    def __init__(
        self, code: grpc.StatusCode, reason: str, message: str, fields: list[tuple[str, str]]
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.fields = fields

    @classmethod
    def of(cls, error: grpc.aio.AioRpcError) -> ApiError:
        status = status_from_rpc_error(error)
        code = error.code()
        if code == grpc.StatusCode.UNAVAILABLE:
            message = "the admin API is unavailable; retry in a moment"
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            message = "the admin API did not answer in time; retry in a moment"
        else:
            message = status.message or error.details() or code.name
        fields = [(v.field, v.description) for v in violations_of(status)]
        return cls(code, reason_of(status) or code.name, message, fields)


@dataclass(frozen=True)
class Upstream:
    """Stubs of AdminService, StreamAdminService, IntegrationAdminService, PushAdminService
    (store) and WebhookService (notifier)."""

    channel_for: ChannelFor
    store_addr: str
    notifier_addr: str
    timeout_seconds: float

    @property
    def admin(self) -> Any:
        return admin_pb2_grpc.AdminServiceStub(self.channel_for(self.store_addr))

    @property
    def streams(self) -> Any:
        return streams_pb2_grpc.StreamAdminServiceStub(self.channel_for(self.store_addr))

    @property
    def integrations(self) -> Any:
        return integrations_pb2_grpc.IntegrationAdminServiceStub(self.channel_for(self.store_addr))

    @property
    def push(self) -> Any:
        return push_pb2_grpc.PushAdminServiceStub(self.channel_for(self.store_addr))

    @property
    def feed(self) -> Any:
        return feed_pb2_grpc.StreamFeedServiceStub(self.channel_for(self.store_addr))

    async def watch(self, stream: str, token: str, last_event_id: str) -> Streaming:
        """A stream's live feed, opened (its first message read), for the signed-in token;
        ApiError when refused."""
        metadata = [*requestids.outgoing(), ("authorization", f"Bearer {token}")]
        if last_event_id:
            metadata.append(("last-event-id", last_event_id))
        # No deadline: it lasts as long as the page stays open.
        call = self.feed.WatchStream(feed_pb2.WatchStreamRequest(stream=stream), metadata=metadata)
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as error:
            raise ApiError.of(error) from None
        return Streaming(call, first)

    @property
    def webhooks(self) -> Any:
        return webhooks_pb2_grpc.WebhookServiceStub(self.channel_for(self.notifier_addr))

    async def call(
        self, method: Callable[..., Awaitable[R]], request: message.Message, token: str
    ) -> R:
        """One RPC under the request's id with `authorization: Bearer <token>`; ApiError
        when refused."""
        metadata = (*requestids.outgoing(), ("authorization", f"Bearer {token}"))
        try:
            return await method(request, metadata=metadata, timeout=self.timeout_seconds)
        except grpc.aio.AioRpcError as error:
            raise ApiError.of(error) from None
