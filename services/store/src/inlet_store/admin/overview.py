"""The admin API's overview: requests and errors per dialect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inlet_common.errors import Violation
from inlet_store import repository as repo
from inlet_store.admin.entity_types import EntityTypeAdmin
from inlet_store.domain import (
    DialectActivity,
)
from inlet_store.errors import (
    InvalidArgument,
    wrap_exceptions,
)


class OverviewAdmin(EntityTypeAdmin):
    """The workspace overview."""

    async def summarize_activity(
        self, workspace_key: str, start_time: datetime | None
    ) -> tuple[list[DialectActivity], datetime]:
        """Requests, errors and the last request of each dialect since start_time."""
        workspace = await self.get_workspace(workspace_key)
        now = datetime.now(UTC)
        start = start_time or now - timedelta(days=1)
        if start > now:
            raise InvalidArgument(
                "start_time is in the future",
                violations=[Violation("start_time", "must not be in the future", "IN_FUTURE")],
            )
        summaries: list[DialectActivity] = []
        async with wrap_exceptions(), self.pool.connection() as conn:
            for dialect, query in (
                ("endpoint_push", "summarize_endpoint_activity"),
                ("stream_ingest", "summarize_stream_activity"),
            ):
                found = await repo.row(conn, query, workspace_id=workspace.id, start_time=start)
                assert found is not None
                summaries.append(
                    DialectActivity(
                        dialect=dialect,
                        request_count=found["request_count"],
                        error_count=found["error_count"],
                        last_request_time=found["last_request_time"],
                        source_count=found["source_count"],
                    )
                )
        return summaries, start
