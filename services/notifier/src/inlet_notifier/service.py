"""The notifier's use cases: take events in (fan-out to deliveries) and manage webhooks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import FailedPrecondition, InvalidArgument, NotFound, Violation
from inlet_notifier import guard, signing
from inlet_notifier import repository as repo
from inlet_notifier.errors import BadWebhookUrl, PrivateTarget, wrap_exceptions
from inlet_notifier.secrets_at_rest import KeyRing, SecretKeyError

log = logging.getLogger(__name__)

EVENT_TYPES = ("record.created", "record.updated", "ingest.failed", "request.completed")
UPDATABLE = ("url", "description", "event_types", "entity_type_ids", "source_ids", "enabled")
STATUSES = ("pending", "succeeded", "failed")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_END = datetime(9999, 1, 1, tzinfo=UTC)
_NIL = "00000000-0000-0000-0000-000000000000"
_MAX = "ffffffff-ffff-ffff-ffff-ffffffffffff"


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


@dataclass(frozen=True)
class EndpointSpec:
    url: str = ""
    description: str = ""
    event_types: tuple[str, ...] = ()
    entity_type_ids: tuple[str, ...] = ()
    source_ids: tuple[str, ...] = ()
    enabled: bool = True


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


def _endpoint_uuid(endpoint_id: str) -> str:
    """The canonical id a secret is sealed with; not a UUID: no such endpoint."""
    try:
        return str(uuid.UUID(endpoint_id))
    except ValueError:
        raise NotFound(f"no webhook endpoint {endpoint_id}") from None


class Webhooks:
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

    # -- events in ------------------------------------------------------------------------

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

    # -- endpoints ------------------------------------------------------------------------

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

    # -- deliveries -----------------------------------------------------------------------

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
