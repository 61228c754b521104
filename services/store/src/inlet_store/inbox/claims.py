"""Claiming the inbox: many requests per statement (SKIP LOCKED, leases), and a long poll
that parks a claim until a request is committed or a lease runs out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from inlet_common.sqlfiles import NamedQueries
from inlet_store import repository as repo
from inlet_store.domain import EntityTypeDef
from inlet_store.errors import wrap_exceptions
from inlet_store.inbox.sources import INTEGRATION, STREAM, entity_type_of
from inlet_store.inbox.waiting import Wakeups

_QUERIES = NamedQueries("inlet_store.inbox", "sql")


@dataclass(frozen=True)
class IntegrationSpec:
    id: str
    type: str
    mapping: Any  # its JSON, or None


@dataclass(frozen=True)
class Claimed:
    request_id: str
    lease_token: str
    workspace_id: str
    default_region: str
    entity_type: EntityTypeDef
    item_key: str
    items: str  # the items' JSON as stored ("[]" when the request has none)
    single: bool
    done_indices: list[int]
    source: str = STREAM
    integration: IntegrationSpec | None = None
    body: bytes = b""
    referenced: dict[str, EntityTypeDef] = field(default_factory=dict)
    # W3C traceparent of the call that accepted it ("" when not traced).
    traceparent: str = ""


class ClaimRepository(Protocol):
    async def claim(self, *, limit: int, max_items: int, lease_seconds: int) -> list[Claimed]:
        """Lease up to `limit` of the oldest waiting requests (see claim_stream_requests)."""
        ...

    async def next_lease_expiry(self) -> float | None:
        """Seconds until the first lease runs out; None when nothing is leased."""
        ...


def _claimed(
    found: dict[str, Any], entity_type: EntityTypeDef, referenced: dict[str, EntityTypeDef]
) -> Claimed:
    return Claimed(
        request_id=found["id"],
        lease_token=str(found["lease_token"]),
        workspace_id=str(found["workspace_id"]),
        default_region=found["default_region"],
        entity_type=entity_type,
        item_key=found["item_key"],
        items=found["items"] or "[]",
        single=found["single"],
        done_indices=list(found["done_indices"]),
        source=found["source"],
        integration=(
            IntegrationSpec(found["integration"], found["integration_type"], found["mapping"])
            if found["source"] == INTEGRATION
            else None
        ),
        body=bytes(found["body"] or b""),
        traceparent=found["traceparent"] or "",
        referenced=referenced,
    )


def _entity_types(found: list[dict[str, Any]]) -> list[EntityTypeDef]:
    """Each claimed row's entity type: the claim sends each type once, on its first row, so
    the batch's requests of one type share one EntityTypeDef."""
    described = {
        str(row["entity_type_id"]): entity_type_of(row["entity_type"])
        for row in found
        if row["entity_type"] is not None
    }
    return [
        described[str(row["entity_type_id"])]
        if row["entity_type_id"] is not None
        # A transfer whose type left its session: its items fail in planning.
        else EntityTypeDef("", str(row["workspace_id"]), "", "")
        for row in found
    ]


def _references(entity_type: EntityTypeDef) -> dict[str, str]:
    return {
        f.slug: f.reference_entity_type_id for f in entity_type.fields if f.reference_entity_type_id
    }


class SqlClaims:
    """ClaimRepository over the store's pool: one statement for the batch, one more when
    integration requests need the types their reference fields name."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def claim(self, *, limit: int, max_items: int, lease_seconds: int) -> list[Claimed]:
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await _QUERIES.rows(
                conn,
                "claim_stream_requests",
                limit=limit,
                max_items=max_items,
                lease_seconds=lease_seconds,
            )
            entity_types = _entity_types(found)
            # Related records of integration requests are planned against the types the
            # reference fields name: fetched once for the whole batch.
            wanted = {
                type_id
                for row, entity_type in zip(found, entity_types, strict=True)
                if row["source"] == INTEGRATION
                for type_id in _references(entity_type).values()
            }
            types = await repo.entity_types(conn, sorted(wanted)) if wanted else {}
        claims = []
        for row, entity_type in zip(found, entity_types, strict=True):
            referenced: dict[str, EntityTypeDef] = {}
            if row["source"] == INTEGRATION:
                ids = _references(entity_type)
                referenced = {slug: types[i] for slug, i in ids.items() if i in types}
            claims.append(_claimed(row, entity_type, referenced))
        return claims

    async def next_lease_expiry(self) -> float | None:
        async with wrap_exceptions(), self.pool.connection() as conn:
            found = await _QUERIES.row(conn, "next_lease_expiry")
        seconds = found["seconds"] if found else None
        return float(seconds) if seconds is not None else None


class Claims:
    """The claim use case: take what is waiting, or wait for it (a long poll)."""

    def __init__(self, claims: ClaimRepository, wakeups: Wakeups | None = None) -> None:
        self.claims = claims
        self.wakeups = wakeups or Wakeups()

    async def claim(
        self, *, limit: int, max_items: int, lease_seconds: int, wait_seconds: float
    ) -> list[Claimed]:
        """Up to `limit` requests; none only after `wait_seconds` without any coming."""
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while True:
            found = await self.claims.claim(
                limit=limit, max_items=max_items, lease_seconds=lease_seconds
            )
            if found:
                if len(found) == limit:
                    # There may be more: let another parked claim look too.
                    self.wakeups.wake()
                return found
            left = deadline - time.monotonic()
            if left <= 0 or self.wakeups.closed:
                return []
            # A request whose worker died comes back when its lease runs out: wake then.
            expiry = await self.claims.next_lease_expiry()
            wait = left if expiry is None else min(left, max(expiry, 0.0) + 0.01)
            woken = await self.wakeups.wait(wait)
            if self.wakeups.closed:
                return []
            if not woken and wait >= left:
                # The time is up and nothing was committed meanwhile: answered empty without
                # looking again (an idle worker's next call looks first thing anyway).
                return []
