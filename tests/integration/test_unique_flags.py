"""The store keys records on the unique flags in force when it commits, not on the plan's.

A plan is made from the schema the matcher resolved; turning `unique` on or off may commit
between that and the apply. Keys written from the stale list would leave record_keys and
the data disagreeing (issue 4: "never leave the index and the data disagreeing").
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_devstack.demo import DemoSeed
from inlet_store.domain import PlannedRecord
from inlet_store.service import Store


async def keys_of(pool: AsyncConnectionPool[Any], record_id: str) -> set[tuple[str, str]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT field_slug, value FROM record_keys WHERE record_id = %s", (record_id,)
        )
        return {(r[0], r[1]) for r in await cur.fetchall()}


async def test_stale_plan_is_keyed_on_the_flags_in_force(
    pool: AsyncConnectionPool[Any], seeded: DemoSeed
) -> None:
    store = Store(pool)
    endpoint = await store.resolve_endpoint(seeded.tokens["contact"])
    stale = PlannedRecord(
        entity_type_id=endpoint.entity_type.id,
        # As if planned before `email` was made unique: the plan keys on nothing.
        values={"name": "Ola", "email": "ola@acme.no"},
        unique_fields=(),
    )
    first = (
        await store.apply_plan(
            workspace_id=endpoint.workspace_id,
            endpoint_id=endpoint.id,
            request_id="req_stale",
            record=stale,
            related={},
        )
    ).record
    assert first.action == "created"
    assert await keys_of(pool, first.id) == {("email", "ola@acme.no")}
    again = (
        await store.apply_plan(
            workspace_id=endpoint.workspace_id,
            endpoint_id=endpoint.id,
            request_id="req_again",
            record=stale,
            related={},
        )
    ).record
    assert (again.id, again.action, again.matched_on) == (first.id, "updated", ("email",))
