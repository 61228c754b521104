"""The notifier's use cases: take events in (fan-out to deliveries) and manage webhooks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inlet_common.errors import InvalidArgument, Violation
from inlet_notifier import repository as repo
from inlet_notifier import signing
from inlet_notifier.errors import wrap_exceptions
from inlet_notifier.webhook_deliveries import WebhookDeliveries


@dataclass(frozen=True)
class Target:
    """One URL an event goes to instead of the subscribers, signed by one endpoint's
    secret; deliveries sharing an ordering_key go one at a time in ordering_seq order."""

    endpoint_id: str
    url: str
    ordering_key: str = ""
    ordering_seq: int = 0


@dataclass(frozen=True)
class Event:
    id: str
    workspace_id: str
    type: str
    occur_time: datetime
    data: dict[str, Any]
    target: Target | None = None
    # W3C traceparent of the change that wrote it; its deliveries' spans continue it.
    traceparent: str | None = None


def _target(event: Event) -> Target:
    assert event.target is not None
    return event.target


def _columns(events: Sequence[Event]) -> dict[str, list[Any]]:
    return {
        "ids": [e.id for e in events],
        "workspace_ids": [e.workspace_id for e in events],
        "types": [e.type for e in events],
        "occur_times": [e.occur_time for e in events],
        "datas": [repo.json(e.data) for e in events],
        "traceparents": [e.traceparent for e in events],
    }


class Webhooks(WebhookDeliveries):
    """Events in, and every webhook use case (webhook_endpoints, webhook_deliveries)."""

    async def publish(self, events: Sequence[Event]) -> int:
        """Store new events and their deliveries; ids seen before are skipped. The number new.
        The store's events do not come this way (the outbox consumer takes them from its
        table); this is for tools and tests that put events in directly."""
        if not events:
            return 0
        broadcast = [e for e in events if e.target is None]
        targeted = [e for e in events if e.target is not None]
        accepted = deliveries = 0
        async with wrap_exceptions(), self.pool.connection() as conn:
            if broadcast:
                found = await repo.row(conn, "insert_events", **_columns(broadcast))
                assert found is not None
                accepted += int(found["accepted"])
                deliveries += int(found["deliveries"])
            if targeted:
                found = await repo.row(
                    conn,
                    "insert_targeted_events",
                    **_columns(targeted),
                    endpoint_ids=[_target(e).endpoint_id for e in targeted],
                    urls=[_target(e).url for e in targeted],
                    ordering_keys=[_target(e).ordering_key for e in targeted],
                    ordering_seqs=[_target(e).ordering_seq for e in targeted],
                )
                assert found is not None
                accepted += int(found["accepted"])
                deliveries += int(found["deliveries"])
        if deliveries:
            self.wake()
        return accepted

    async def create_session_endpoint(self, workspace_id: str, session_id: str) -> tuple[str, str]:
        """The endpoint whose secret signs a push session's webhooks: its id and secret."""
        if not workspace_id or not session_id:
            raise InvalidArgument(
                "workspace_id and session_id are required",
                violations=[
                    Violation(name, f"{name} is required", "REQUIRED_FIELD_MISSING")
                    for name, value in (("workspace_id", workspace_id), ("session_id", session_id))
                    if not value
                ],
            )
        secret = signing.new_secret()
        endpoint_id = str(uuid.uuid4())
        async with wrap_exceptions(), self.pool.connection() as conn:
            await repo.row(
                conn,
                "insert_session_endpoint",
                id=endpoint_id,
                workspace_id=workspace_id,
                description=f"push transfer webhooks of session {session_id}",
                secret=self.keys.seal(endpoint_id, secret),
                session_id=session_id,
            )
        return endpoint_id, secret
