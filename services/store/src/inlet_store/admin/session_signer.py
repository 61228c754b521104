"""Where a push session's webhook signing secret is made and kept: the notifier."""

from __future__ import annotations

import logging
from typing import Protocol

import grpc

from inlet.notifier.v1 import notifier_pb2, notifier_pb2_grpc
from inlet_common.errors import Unavailable

log = logging.getLogger(__name__)


class SessionSigner(Protocol):
    """Where a session's webhook signing secret is made and kept (the notifier)."""

    async def create_session_endpoint(self, workspace_id: str, session_id: str) -> tuple[str, str]:
        """The new endpoint's id and its clear secret."""
        ...


class GrpcSessionSigner:
    """NotifierService.CreateSessionEndpoint over a channel the store already holds."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float = 10.0) -> None:
        self.stub = notifier_pb2_grpc.NotifierServiceStub(channel)
        self.timeout = timeout

    async def create_session_endpoint(self, workspace_id: str, session_id: str) -> tuple[str, str]:
        try:
            made = await self.stub.CreateSessionEndpoint(
                notifier_pb2.CreateSessionEndpointRequest(
                    workspace_id=workspace_id, session_id=session_id
                ),
                timeout=self.timeout,
            )
        except grpc.aio.AioRpcError as error:
            log.warning("notifier refused a session endpoint", extra={"grpc": error.code().name})
            raise Unavailable(
                "the notifier, which keeps the session's webhook signing secret, did not"
                f" answer ({error.code().name}); retry",
                reason="NOTIFIER_UNAVAILABLE",
            ) from None
        return made.endpoint_id, made.secret


class NoSigner:
    """A store started without a notifier: sessions cannot be created."""

    async def create_session_endpoint(self, workspace_id: str, session_id: str) -> tuple[str, str]:
        raise Unavailable(
            "this store has no notifier to keep the session's webhook signing secret",
            reason="NOTIFIER_UNAVAILABLE",
        )
