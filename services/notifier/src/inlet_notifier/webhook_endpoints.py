"""Webhook endpoints' use cases: create, read, list, update, delete, rotate and seal secrets."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import InvalidArgument, NotFound, Violation
from inlet_notifier import guard, signing
from inlet_notifier import repository as repo
from inlet_notifier.errors import BadWebhookUrl, PrivateTarget, wrap_exceptions
from inlet_notifier.secrets_at_rest import KeyRing, SecretKeyError

log = logging.getLogger(__name__)

EVENT_TYPES = ("record.created", "record.updated", "ingest.failed", "request.completed")
UPDATABLE = ("url", "description", "event_types", "entity_type_ids", "source_ids", "enabled")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NIL = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class EndpointSpec:
    url: str = ""
    description: str = ""
    event_types: tuple[str, ...] = ()
    entity_type_ids: tuple[str, ...] = ()
    source_ids: tuple[str, ...] = ()
    enabled: bool = True


def _endpoint_uuid(endpoint_id: str) -> str:
    """The canonical id a secret is sealed with; not a UUID: no such endpoint."""
    try:
        return str(uuid.UUID(endpoint_id))
    except ValueError:
        raise NotFound(f"no webhook endpoint {endpoint_id}") from None


class WebhookEndpoints:
    """Use cases over one pool; `wake` tells the local worker new deliveries exist.
    Signing secrets are stored sealed under `keys` (secrets_at_rest)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        keys: KeyRing,
        allow_private: bool = False,
        secret_grace_seconds: float = 24 * 3600.0,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.pool = pool
        self.keys = keys
        self.allow_private = allow_private
        self.secret_grace_seconds = secret_grace_seconds
        self.wake = wake

    async def _checked(self, spec: EndpointSpec, paths: Collection[str]) -> EndpointSpec:
        bad = [
            Violation(f"webhook_endpoint.event_types[{i}]", f"unknown event type {t!r}", "UNKNOWN")
            for i, t in enumerate(spec.event_types)
            if "event_types" in paths and t not in EVENT_TYPES
        ]
        if bad:
            raise InvalidArgument(
                f"event types must be among {', '.join(EVENT_TYPES)}", violations=bad
            )
        if "url" not in paths:
            return spec
        if not spec.url:
            raise InvalidArgument(
                "webhook_endpoint.url is required",
                violations=[
                    Violation("webhook_endpoint.url", "url is required", "REQUIRED_FIELD_MISSING")
                ],
            )
        try:
            url = await guard.check_url(spec.url, allow_private=self.allow_private)
        except (BadWebhookUrl, PrivateTarget) as error:
            field = Violation("webhook_endpoint.url", error.message, error.reason)
            raise type(error)(error.message, violations=[field]) from None
        return replace(spec, url=url)

    async def create_endpoint(
        self, workspace_id: str, spec: EndpointSpec
    ) -> tuple[dict[str, Any], str]:
        spec = await self._checked(spec, UPDATABLE)
        secret = signing.new_secret()
        # The id is chosen here, not by the database: it is the seal's associated data.
        endpoint_id = str(uuid.uuid4())
        async with wrap_exceptions(), self.pool.connection() as conn:
            created = await repo.row(
                conn,
                "insert_endpoint",
                id=endpoint_id,
                workspace_id=workspace_id,
                url=spec.url,
                description=spec.description,
                event_types=list(spec.event_types),
                entity_type_ids=list(spec.entity_type_ids),
                source_ids=list(spec.source_ids),
                secret=self.keys.seal(endpoint_id, secret),
            )
        assert created is not None
        return created, secret

    async def get_endpoint(self, workspace_id: str, endpoint_id: str) -> dict[str, Any]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await self._endpoint(conn, workspace_id, endpoint_id)

    async def _endpoint(
        self, conn: repo.Conn, workspace_id: str, endpoint_id: str
    ) -> dict[str, Any]:
        found = await repo.row(conn, "get_endpoint", id=endpoint_id, workspace_id=workspace_id)
        if found is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return found

    async def list_endpoints(
        self, workspace_id: str, size: int, token: str
    ) -> tuple[list[dict[str, Any]], str]:
        limit = paging.page_size(size)
        tokens = PageTokens("webhookEndpoints", workspace_id)
        cursor = tokens.decode(token, 2)
        after_time = paging.as_time(cursor[0]) if cursor else _EPOCH
        after_id = paging.as_text(cursor[1]) if cursor else _NIL
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.rows(
                conn,
                "list_endpoints",
                workspace_id=workspace_id,
                after_time=after_time,
                after_id=after_id,
                limit=limit + 1,
            )
        return tokens.page(found, limit, lambda r: (r["create_time"], str(r["id"])))

    async def update_endpoint(
        self, workspace_id: str, endpoint_id: str, spec: EndpointSpec, paths: Collection[str]
    ) -> dict[str, Any]:
        """Change the fields named in `paths` (some of UPDATABLE) and no other."""
        assert paths, "an update names what it changes"
        assert set(paths) <= set(UPDATABLE), paths
        spec = await self._checked(spec, paths)
        async with wrap_exceptions(), self.pool.connection() as conn:
            updated = await repo.row(
                conn,
                "update_endpoint",
                id=endpoint_id,
                workspace_id=workspace_id,
                paths=sorted(paths),
                url=spec.url,
                description=spec.description,
                event_types=list(spec.event_types),
                entity_type_ids=list(spec.entity_type_ids),
                source_ids=list(spec.source_ids),
                enabled=spec.enabled,
            )
        if updated is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        if updated["enabled"]:
            self.wake()
        return updated

    async def delete_endpoint(self, workspace_id: str, endpoint_id: str) -> None:
        async with wrap_exceptions(), self.pool.connection() as conn:
            deleted = await repo.execute(
                conn, "delete_endpoint", id=endpoint_id, workspace_id=workspace_id
            )
        if not deleted:
            raise NotFound(f"no webhook endpoint {endpoint_id}")

    async def rotate_secret(
        self, workspace_id: str, endpoint_id: str, grace_seconds: float | None
    ) -> tuple[str, datetime]:
        grace = self.secret_grace_seconds if grace_seconds is None else grace_seconds
        if grace < 0:
            raise InvalidArgument(
                "grace_period must not be negative",
                violations=[Violation("grace_period", "must not be negative", "NEGATIVE")],
            )
        secret = signing.new_secret()
        sealed = self.keys.seal(_endpoint_uuid(endpoint_id), secret)
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await repo.row(
                conn,
                "rotate_secret",
                id=endpoint_id,
                workspace_id=workspace_id,
                secret=sealed,
                grace=float(grace),
            )
        if found is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        until: datetime = found["previous_secret_until"]
        return secret, until

    async def seal_stored_secrets(self) -> int:
        """At start: seal every secret not sealed under the first key (clear ones from
        before encryption at rest, ones under an older key) in one transaction; the number
        of endpoints changed. A secret no key opens is logged and left as it is, unless it
        is a previous secret past its grace: that one can never sign again, and goes."""
        changed: list[tuple[str, str, str | None]] = []
        unopened = 0
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            found = await repo.rows(conn, "secrets_to_seal", sealed_prefix=self.keys.sealed_prefix)
            for row in found:
                endpoint_id = str(row["id"])
                secret, previous = row["secret"], row["previous_secret"]
                try:
                    secret = self.keys.reseal(endpoint_id, secret)
                except SecretKeyError as error:
                    # Not fatal: other endpoints still deliver; this one's deliveries fail
                    # with the same message until the missing key is back in the ring.
                    log.error("webhook signing secret left as stored: %s", error)
                    unopened += 1
                if previous is not None:
                    try:
                        previous = self.keys.reseal(endpoint_id, previous)
                    except SecretKeyError as error:
                        if row["previous_expired"]:
                            previous = None
                            log.info("expired previous signing secret dropped: %s", error)
                        else:
                            log.error("webhook signing secret left as stored: %s", error)
                            unopened += 1
                if (secret, previous) != (row["secret"], row["previous_secret"]):
                    changed.append((endpoint_id, secret, previous))
            if changed:
                ids, sealed, previous_sealed = zip(*changed, strict=True)
                await repo.execute(
                    conn,
                    "store_sealed_secrets",
                    ids=list(ids),
                    secrets=list(sealed),
                    previous_secrets=list(previous_sealed),
                )
        if changed or unopened:
            log.info(
                "webhook signing secrets sealed under key %s",
                self.keys.primary,
                extra={"endpoints": len(changed), "unopened": unopened},
            )
        return len(changed)
