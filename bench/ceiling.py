"""The raw ceiling of endpoint push: the store's transaction issued straight from psycopg."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from bench.cpu import CpuProbe
from bench.environment import Target
from bench.load import drive
from bench.scenario import OperationError, Result
from bench.workload import Contact, Workload
from inlet_common import database
from inlet_store import repository as repo

# The store's own named statements, so both sides run the same SQL on the same schema.
from inlet_store.queries import q

UNIQUE_FIELDS = ("email", "phone")
RACE_ATTEMPTS = 8  # as the store: a push that lost a unique-key race is retried


class RawCeiling:
    """Per push, one transaction: find_keys; then lock_record + update_record, or
    insert_record + insert_keys; then insert_activity. No HTTP, gRPC, validation or
    endpoint resolution: what the database work alone allows from Python."""

    name = "raw psycopg ceiling"

    def __init__(
        self,
        database_url: str,
        target: Target,
        workload: Workload,
        *,
        concurrency: int,
        pool_size: int,
        probe: CpuProbe | None = None,
    ) -> None:
        self.probe = probe
        self.database_url = database_url
        self.target = target
        self.workload = workload
        self.concurrency = concurrency
        self.pool_size = pool_size
        self._request_ids = itertools.count()

    async def run(self) -> Result:
        # Opened as the store opens its own: autocommit, JSON numbers exact.
        pool = await database.open_pool(
            self.database_url, min_size=self.pool_size, max_size=self.pool_size
        )
        try:

            async def push(contact: Contact) -> str:
                return await self._push(pool, contact)

            await drive(self.name, self.workload.warmup, push, concurrency=self.concurrency)
            return await drive(
                self.name,
                self.workload.measured,
                push,
                concurrency=self.concurrency,
                probe=self.probe,
            )
        finally:
            await pool.close()

    async def _push(self, pool: AsyncConnectionPool[Any], contact: Contact) -> str:
        request_id = f"bench_{next(self._request_ids):026d}"
        for attempt in range(RACE_ATTEMPTS):
            try:
                return await self._apply(pool, contact, request_id)
            except psycopg.errors.UniqueViolation:
                # Another push created the same key first; back off as the store does.
                await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
            except psycopg.Error as error:
                raise OperationError(type(error).__name__) from None
        raise OperationError("KeyRace")

    async def _apply(
        self, pool: AsyncConnectionPool[Any], contact: Contact, request_id: str
    ) -> str:
        t = self.target
        values = contact.fields()
        keys = {slug: values[slug] for slug in UNIQUE_FIELDS}
        async with pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                q("find_keys"),
                {
                    "workspace_id": t.workspace_id,
                    "entity_type_id": t.entity_type_id,
                    "slugs": list(keys),
                    "values": list(keys.values()),
                },
            )
            hits = {row["field_slug"]: str(row["record_id"]) for row in await cur.fetchall()}
            matched = set(hits.values())
            if len(matched) > 1:
                raise OperationError("UniqueConflict")
            outcome: dict[str, Any]
            if matched:
                record_id = matched.pop()
                await cur.execute(q("lock_record"), {"id": record_id})
                if await cur.fetchone() is None:
                    raise OperationError("RecordVanished")
                await cur.execute(q("update_record"), {"id": record_id, "data": repo.json(values)})
                matched_on = [slug for slug in UNIQUE_FIELDS if slug in hits]
                outcome = {"id": record_id, "action": "updated", "matched_on": matched_on}
            else:
                await cur.execute(
                    q("insert_record"),
                    {
                        "workspace_id": t.workspace_id,
                        "entity_type_id": t.entity_type_id,
                        "data": repo.json(values),
                    },
                )
                created = await cur.fetchone()
                assert created is not None
                record_id = str(created["id"])
                await cur.execute(
                    q("insert_keys"),
                    {
                        "workspace_id": t.workspace_id,
                        "entity_type_id": t.entity_type_id,
                        "record_id": record_id,
                        "slugs": list(keys),
                        "values": list(keys.values()),
                    },
                )
                outcome = {"id": record_id, "action": "created"}
            await cur.execute(
                q("insert_activity"),
                {
                    "endpoint_id": t.endpoint_id,
                    "request_id": request_id,
                    "client_request_id": "",  # none sent, as the store writes it
                    "status_code": 200,
                    "outcome": repo.json({"record": outcome, "related": {}}),
                    "record_ids": [record_id],
                },
            )
            return str(outcome["action"])
