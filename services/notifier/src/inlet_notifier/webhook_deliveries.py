"""Webhook deliveries' use cases: list them and their attempts, replay one, recover failed ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import FailedPrecondition, NotFound
from inlet_notifier import repository as repo
from inlet_notifier.errors import wrap_exceptions
from inlet_notifier.webhook_endpoints import WebhookEndpoints

STATUSES = ("pending", "succeeded", "failed")

_END = datetime(9999, 1, 1, tzinfo=UTC)
_MAX = "ffffffff-ffff-ffff-ffff-ffffffffffff"


def _refuse_disabled(endpoint: dict[str, Any], what: str) -> None:
    """A disabled endpoint is sent nothing: queuing its deliveries would only look sent."""
    if endpoint["enabled"]:
        return
    why = f" ({endpoint['disabled_reason']})" if endpoint["disabled_reason"] else ""
    raise FailedPrecondition(
        f"webhook endpoint {endpoint['id']} is disabled{why}, so deliveries cannot be"
        f" {what}; enable it first (`inlet webhooks enable {endpoint['id']}`, or PATCH it"
        ' with {"enabled": true}), then try again',
        reason="ENDPOINT_DISABLED",
    )


class WebhookDeliveries(WebhookEndpoints):
    """The endpoints' use cases, and their deliveries'."""

    async def list_deliveries(
        self, workspace_id: str, endpoint_id: str, status: str | None, size: int, token: str
    ) -> tuple[list[dict[str, Any]], str]:
        limit = paging.page_size(size)
        tokens = PageTokens("webhookDeliveries", workspace_id, endpoint_id, status)
        cursor = tokens.decode(token, 2)
        before_time = paging.as_time(cursor[0]) if cursor else _END
        before_id = paging.as_text(cursor[1]) if cursor else _MAX
        async with wrap_exceptions(), self.pool.connection() as conn:
            await self._endpoint(conn, workspace_id, endpoint_id)
            found = await repo.rows(
                conn,
                "list_deliveries",
                endpoint_id=endpoint_id,
                status=status,
                before_time=before_time,
                before_id=before_id,
                limit=limit + 1,
            )
        return tokens.page(found, limit, lambda r: (r["create_time"], str(r["id"])))

    async def _delivery(
        self, conn: repo.Conn, workspace_id: str, endpoint_id: str, delivery_id: str
    ) -> dict[str, Any]:
        found = await repo.row(
            conn, "get_delivery", id=delivery_id, endpoint_id=endpoint_id, workspace_id=workspace_id
        )
        if found is None:
            raise NotFound(f"no delivery {delivery_id} of webhook endpoint {endpoint_id}")
        return found

    async def list_attempts(
        self, workspace_id: str, endpoint_id: str, delivery_id: str
    ) -> list[dict[str, Any]]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            await self._delivery(conn, workspace_id, endpoint_id, delivery_id)
            return await repo.rows(conn, "list_attempts", delivery_id=delivery_id)

    async def replay(self, workspace_id: str, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            endpoint = await self._endpoint(conn, workspace_id, endpoint_id)
            await self._delivery(conn, workspace_id, endpoint_id, delivery_id)
            _refuse_disabled(endpoint, "replayed")
            replayed = await repo.row(
                conn, "replay_delivery", id=delivery_id, endpoint_id=endpoint_id
            )
        assert replayed is not None
        self.wake()
        return replayed

    async def recover(self, workspace_id: str, endpoint_id: str, since: datetime) -> int:
        async with wrap_exceptions(), self.pool.connection() as conn:
            _refuse_disabled(await self._endpoint(conn, workspace_id, endpoint_id), "recovered")
            count = await repo.execute(
                conn, "recover_deliveries", endpoint_id=endpoint_id, since=since
            )
        if count:
            self.wake()
        return count
