"""A push is applied only against the schema it was planned against.

A plan is made from the schema the matcher cached; turning `unique` on (or off) may commit
between that and the commit. Keys written from a stale plan would leave record_keys and the
data disagreeing, so the store refuses a plan made against another schema version,
answering with the current schema, and writes nothing; the plan made again applies.
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from inlet_common.credentials import token_hash
from inlet_devstack.demo import DemoSeed
from inlet_store.push.repository import PgPushRepository
from inlet_store.push.use_case import PushCommitter
from tests.push_commit_support import commit, planned, schema_version


async def keys_of(pool: AsyncConnectionPool[Any], record_id: str) -> set[tuple[str, str]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT field_slug, value FROM record_keys WHERE record_id = %s", (record_id,)
        )
        return {(r[0], r[1]) for r in await cur.fetchall()}


async def records_with(pool: AsyncConnectionPool[Any], type_id: str, email: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM records WHERE entity_type_id = %s AND data->>'email' = %s",
            (type_id, email),
        )
        return int((await cur.fetchone() or [0])[0])


async def test_a_stale_plan_is_refused_with_the_current_schema_and_never_applied(
    pool: AsyncConnectionPool[Any], seeded: DemoSeed
) -> None:
    committer = PushCommitter(PgPushRepository(pool))
    hashed = token_hash(seeded.tokens["contact"])
    current = await schema_version(committer, hashed)
    cold = await committer.repository.schema(hashed)
    assert cold is not None
    type_id = cold.endpoint.entity_type.id
    # As if planned before `email` was made unique: the plan keys on nothing.
    stale = planned(type_id, {"name": "Ola", "email": "ola@acme.no"})
    refused = await commit(committer, hashed, stale, version="an older version")
    assert refused.schema is not None
    assert refused.schema.version == current
    assert refused.applied is None
    assert await records_with(pool, type_id, "ola@acme.no") == 0
    fresh = planned(type_id, {"name": "Ola", "email": "ola@acme.no"}, ("email",))
    first = await commit(committer, hashed, fresh, version=current)
    assert first.applied is not None
    assert first.applied.record.action == "created"
    assert await keys_of(pool, first.applied.record.id) == {("email", "ola@acme.no")}
    again = await commit(committer, hashed, fresh)
    assert again.applied is not None
    record = again.applied.record
    assert (record.id, record.action, record.matched_on) == (
        first.applied.record.id,
        "updated",
        ("email",),
    )


async def test_the_version_moves_with_the_unique_flag(
    pool: AsyncConnectionPool[Any], seeded: DemoSeed
) -> None:
    committer = PushCommitter(PgPushRepository(pool))
    hashed = token_hash(seeded.tokens["contact"])
    before = await schema_version(committer, hashed)
    cold = await committer.repository.schema(hashed)
    assert cold is not None
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE fields SET is_unique = NOT is_unique"
            " WHERE entity_type_id = %s AND slug = 'name'",
            (cold.endpoint.entity_type.id,),
        )
    after = await schema_version(committer, hashed)
    assert after != before
    refused = await commit(
        committer, hashed, planned(cold.endpoint.entity_type.id, {"name": "x"}), version=before
    )
    assert refused.schema is not None
    assert refused.schema.version == after
