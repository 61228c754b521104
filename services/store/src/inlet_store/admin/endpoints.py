"""The admin API's use cases of ingest endpoints: settings, token, example body, activity."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import phonenumbers

from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import Violation
from inlet_store import guards
from inlet_store import repository as repo
from inlet_store.admin.entity_types import EntityTypeAdmin
from inlet_store.domain import (
    ActivityEntry,
    Endpoint,
    EntityTypeDef,
    FieldDef,
)
from inlet_store.errors import (
    InvalidArgument,
    NotFound,
    wrap_exceptions,
)
from inlet_store.tokens import new_endpoint_token, token_hash

_REGION = re.compile(r"^([A-Z]{2})?$")


class EndpointAdmin(EntityTypeAdmin):
    """Ingest endpoints."""

    async def create_endpoint(
        self,
        workspace_key: str,
        display_name: str,
        entity_type_key: str,
        default_region: str,
        *,
        rate_limit: int = 0,
        rate_window_seconds: int = 0,
    ) -> tuple[Endpoint, str]:
        """The endpoint and its token (the only copy); a rate setting of 0 takes the default."""
        if not _REGION.match(default_region):
            raise InvalidArgument(
                "default_region must be an ISO 3166 alpha-2 code such as NO",
                violations=[
                    Violation(
                        "ingest_endpoint.default_region", "not a region code", "INVALID_REGION"
                    )
                ],
            )
        rate_limit = rate_limit or guards.DEFAULT_RATE_LIMIT
        rate_window_seconds = rate_window_seconds or guards.DEFAULT_RATE_WINDOW
        guards.check_rate_settings("ingest_endpoint", rate_limit, rate_window_seconds)
        entity_type = await self.get_entity_type(workspace_key, entity_type_key)
        token = new_endpoint_token()
        async with wrap_exceptions(), self.pool.connection() as conn:
            created = await repo.row(
                conn,
                "insert_endpoint",
                workspace_id=entity_type.workspace_id,
                entity_type_id=entity_type.id,
                display_name=display_name or entity_type.slug,
                token_hash=token_hash(token),
                default_region=default_region,
                rate_limit=rate_limit,
                rate_window_seconds=rate_window_seconds,
            )
            assert created is not None
        endpoint = Endpoint(
            id=str(created["id"]),
            workspace_id=entity_type.workspace_id,
            display_name=display_name or entity_type.slug,
            entity_type=entity_type.slug,
            enabled=created["enabled"],
            default_region=default_region,
            create_time=created["create_time"],
            rate_limit=created["rate_limit"],
            rate_window_seconds=created["rate_window_seconds"],
        )
        return endpoint, token

    async def get_endpoint(self, workspace_key: str, endpoint_key: str) -> Endpoint:
        workspace = await self.get_workspace(workspace_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.row(
                conn, "endpoint_by_key", workspace_id=workspace.id, key=endpoint_key
            )
        if found is None:
            raise NotFound(
                f"ingest endpoint {endpoint_key!r} not found", reason="ENDPOINT_NOT_FOUND"
            )
        return _endpoint(found)

    async def update_endpoint(
        self,
        workspace_key: str,
        endpoint_key: str,
        *,
        display_name: str | None = None,
        enabled: bool | None = None,
        rate_limit: int | None = None,
        rate_window_seconds: int | None = None,
    ) -> Endpoint:
        """Change the settings given (None: keep); unlike on create, 0 is no default here."""
        guards.check_rate_settings("ingest_endpoint", rate_limit, rate_window_seconds)
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            await repo.execute(
                conn,
                "update_endpoint",
                id=endpoint.id,
                display_name=display_name,
                enabled=enabled,
                rate_limit=rate_limit,
                rate_window_seconds=rate_window_seconds,
            )
        return await self.get_endpoint(workspace_key, endpoint_key)

    async def list_activity(
        self,
        workspace_key: str,
        endpoint_key: str,
        page_size: int,
        page_token: str,
        *,
        status_code: int = 0,
        errors_only: bool = False,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> tuple[list[ActivityEntry], str]:
        limit = paging.page_size(page_size)
        # The filter travels in the token, so a page is never read with another filter.
        tokens = PageTokens(
            "activityEntries",
            workspace_key,
            endpoint_key,
            status_code,
            errors_only,
            start_time,
            end_time,
        )
        cursor = tokens.decode(page_token, 1)
        before = paging.as_int(cursor[0]) if cursor else 2**63 - 1
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.rows(
                conn,
                "list_activity_filtered",
                endpoint_id=endpoint.id,
                before_id=before,
                status_code=status_code,
                errors_only=errors_only,
                start_time=start_time,
                end_time=end_time,
                limit=limit + 1,
            )
        entries = [
            ActivityEntry(
                r["id"],
                r["request_id"],
                r["status_code"],
                r["outcome"],
                r["create_time"],
                previous_token=r["previous_token"],
                client_request_id=r["client_request_id"],
                trace_id=r["trace_id"] or "",
            )
            for r in found[:limit]
        ]
        return entries, tokens.page(found, limit, lambda r: (r["id"],))[1]

    async def list_endpoints(
        self, workspace_key: str, page_size: int, page_token: str
    ) -> tuple[list[Endpoint], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("ingestEndpoints", workspace_key)
        cursor = tokens.decode(page_token, 2)
        workspace = await self.get_workspace(workspace_key)
        return await self._newest_first(
            "list_endpoints", tokens, limit, cursor, _endpoint, workspace_id=workspace.id
        )

    async def rotate_endpoint_token(
        self, workspace_key: str, endpoint_key: str, grace_seconds: float
    ) -> tuple[Endpoint, str]:
        if not 0 <= grace_seconds <= _MAX_GRACE_SECONDS:
            raise InvalidArgument(
                "grace_period must be between 0 and 7 days",
                violations=[
                    Violation("grace_period", f"{grace_seconds:g}s is out of range", "OUT_OF_RANGE")
                ],
            )
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        token = new_endpoint_token()
        async with wrap_exceptions(), self.pool.connection() as conn:
            await repo.execute(
                conn,
                "rotate_endpoint_token",
                id=endpoint.id,
                token_hash=token_hash(token),
                grace_seconds=grace_seconds,
            )
        return await self.get_endpoint(workspace_key, endpoint_key), token

    async def delete_endpoint(self, workspace_key: str, endpoint_key: str) -> None:
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        async with wrap_exceptions(), self.pool.connection() as conn:
            await repo.execute(conn, "delete_endpoint", id=endpoint.id)

    async def endpoint_example(
        self, workspace_key: str, endpoint_key: str
    ) -> tuple[dict[str, Any], list[tuple[str, FieldDef]]]:
        """A body the endpoint accepts, and each of its fields by path. A type with sample
        records (push transfer's sample_data) shows the newest one's values."""
        endpoint = await self.get_endpoint(workspace_key, endpoint_key)
        target = await self.get_entity_type(workspace_key, endpoint.entity_type)
        described: list[tuple[str, FieldDef]] = []
        fields: dict[str, Any] = {}
        related: dict[str, Any] = {}

        async def example(entity_type: EntityTypeDef) -> Callable[[FieldDef], Any]:
            async with wrap_exceptions(), self.pool.connection() as conn:
                found = await repo.row(conn, "newest_sample_record", entity_type_id=entity_type.id)
            stored = dict(found["data"]) if found else {}

            def value(f: FieldDef) -> Any:
                if stored.get(f.slug) is not None:
                    return stored[f.slug]
                return sample_value(f, endpoint.default_region)

            return value

        value_of = await example(target)
        for f in target.fields:
            if f.type == "reference":
                referenced = await self.get_entity_type(workspace_key, f.reference_entity_type)
                nested_value = await example(referenced)
                nested: dict[str, Any] = {}
                for g in referenced.fields:
                    # Related records may not set their own references (the ingest rule).
                    if g.type != "reference":
                        nested[g.slug] = nested_value(g)
                        described.append((f"related.{f.slug}.{g.slug}", g))
                related[f.slug] = nested
                continue
            fields[f.slug] = value_of(f)
            described.append((f"fields.{f.slug}", f))
        payload: dict[str, Any] = {"fields": fields}
        if related:
            payload["related"] = related
        return payload, described


_MAX_GRACE_SECONDS = 7 * 24 * 3600
_SAMPLES: dict[str, Any] = {
    "text": "Example text",
    "email": "ola.nordmann@example.com",
    "number": 42,
    "integer": 42,
    "boolean": True,
    "datetime": "2025-01-31T09:30:00Z",
}

# A valid example number per region (phonenumbers knows one for every region).
_DEFAULT_PHONE = "+4799887766"


def sample_value(f: FieldDef, region: str) -> Any:
    """A typed value that field `f` accepts (what the example body shows)."""
    if f.type == "phone":
        example = phonenumbers.example_number(region) if region else None
        if example is None:
            return _DEFAULT_PHONE
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    if f.type == "text" and f.slug in ("name", "title"):
        return "Ola Nordmann" if f.slug == "name" else "Example title"
    return _SAMPLES.get(f.type, "")


def _endpoint(found: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=str(found["id"]),
        workspace_id=str(found["workspace_id"]),
        display_name=found["display_name"],
        entity_type=found["entity_type"],
        enabled=found["enabled"],
        default_region=found["default_region"],
        create_time=found["create_time"],
        rate_limit=found["rate_limit"],
        rate_window_seconds=found["rate_window_seconds"],
        previous_token_expire_time=found["previous_token_expire_time"],
    )
