"""gRPC servicer of NotifierService. Until durable delivery lands (issue 5) it validates
and acknowledges events; nothing publishes to it yet."""

from __future__ import annotations

import logging
from typing import Any

from inlet.notifier.v1 import notifier_pb2, notifier_pb2_grpc
from inlet_common.errors import InvalidArgument, Violation

log = logging.getLogger(__name__)


class NotifierServicer(notifier_pb2_grpc.NotifierServiceServicer):
    async def PublishEvents(
        self, request: notifier_pb2.PublishEventsRequest, context: Any
    ) -> notifier_pb2.PublishEventsResponse:
        bad = [
            Violation(f"events[{i}].{name}", f"{name} is required", "REQUIRED_FIELD_MISSING")
            for i, event in enumerate(request.events)
            for name in ("id", "type")
            if not getattr(event, name)
        ]
        if bad:
            raise InvalidArgument("events need an id and a type", violations=bad)
        log.info("events received", extra={"count": len(request.events)})
        return notifier_pb2.PublishEventsResponse(accepted=len(request.events))
