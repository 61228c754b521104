"""Group commit on the real database: pushes committed together, each outcome its own."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from inlet.admin.v1 import admin_pb2
from inlet_common import exactjson
from inlet_common.credentials import token_hash
from inlet_devstack.demo import DemoSeed
from inlet_store.errors import UniqueConflictError
from inlet_store.guards import RateLimited
from inlet_store.push.repository import PgPushRepository
from inlet_store.push.use_case import (
    Planned,
    PushCommand,
    PushCommitter,
    PushOutcome,
    Refusal,
)
from tests.integration.conftest import Servers
from tests.push_commit_support import planned, schema_version
from tests.windows import steady_window


class RecordingRepository(PgPushRepository):
    """The real repository, remembering how many pushes each transaction carried."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        super().__init__(pool)
        self.batch_sizes: list[int] = []

    async def commit(self, pushes: list[bytes], attempts: int) -> list[dict[str, Any]]:
        self.batch_sizes.append(len(pushes))
        return await super().commit(pushes, attempts)


async def contact_schema(committer: PushCommitter, token: str) -> tuple[bytes, str, str]:
    hashed = token_hash(token)
    version = await schema_version(committer, hashed)
    found = await committer.repository.schema(hashed)
    assert found is not None
    return hashed, version, found.endpoint.entity_type.id


def push(hashed: bytes, version: str, record: Planned | None, **more: Any) -> PushCommand:
    return PushCommand(
        token_hash=hashed,
        schema_version=version,
        request_id=f"req_{secrets.token_hex(6)}",
        record=record,
        **more,
    )


async def activity(pool: AsyncConnectionPool[Any], request_id: str) -> list[tuple[int, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status_code, outcome FROM activity_entries WHERE request_id = %s",
            (request_id,),
        )
        return list(await cur.fetchall())


async def test_in_one_batch_a_conflict_a_refusal_and_a_replay_change_no_other_push(
    pool: AsyncConnectionPool[Any], seeded: DemoSeed
) -> None:
    repository = RecordingRepository(pool)
    committer = PushCommitter(repository)
    hashed, version, type_id = await contact_schema(committer, seeded.tokens["contact"])
    unique = ("email", "phone")

    def contact(**values: Any) -> Planned:
        return planned(type_id, values, unique)

    # Before the batch: two records the conflicting push will hit, and a keyed push.
    for values in ({"email": "x@acme.no"}, {"phone": "+4790000001"}):
        done = await committer.commit(push(hashed, version, contact(**values)))
        assert done.applied is not None
    body_hash = secrets.token_bytes(32)
    keyed = push(
        hashed, version, contact(email="keyed@acme.no"), idempotency_key="k1", body_hash=body_hash
    )
    first = await committer.commit(keyed)
    assert first.applied is not None
    batch = [
        push(hashed, version, contact(email="a@acme.no")),
        push(hashed, version, contact(email="x@acme.no", phone="+4790000001")),
        push(
            hashed,
            version,
            None,
            refusal=Refusal(
                400, exactjson.dumps({"error": {"code": "VALIDATION_FAILED"}}).decode(), True
            ),
        ),
        push(
            hashed,
            version,
            contact(email="keyed@acme.no"),
            idempotency_key="k1",
            body_hash=body_hash,
        ),
        push(hashed, version, contact(email="b@acme.no")),
    ]
    results = await asyncio.gather(*(committer.commit(p) for p in batch), return_exceptions=True)
    assert max(repository.batch_sizes) == len(batch)
    created_a, conflict, refused, replayed, created_b = results
    for created in (created_a, created_b):
        assert isinstance(created, PushOutcome)
        assert created.applied is not None
        assert created.applied.record.action == "created"
    assert isinstance(conflict, UniqueConflictError)
    assert isinstance(refused, PushOutcome)
    assert refused.refused
    assert isinstance(replayed, PushOutcome)
    assert replayed.applied is not None
    assert replayed.applied.replayed
    assert replayed.applied.record.id == first.applied.record.id
    # Every push has its own activity entry, with its own status.
    statuses = [[status for status, _ in await activity(pool, p.request_id)] for p in batch]
    assert statuses == [[200], [400], [400], [200], [200]]
    [(_, replay_entry)] = await activity(pool, batch[3].request_id)
    assert replay_entry["replay_of"] == keyed.request_id
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM records WHERE entity_type_id = %s AND data->>'email' = %s",
            (type_id, "x@acme.no"),
        )
        assert (await cur.fetchone() or [0])[0] == 1  # the conflict wrote nothing


async def test_racing_pushes_of_one_new_value_end_as_one_record(
    pool: AsyncConnectionPool[Any], seeded: DemoSeed
) -> None:
    # Two committers stand for two store replicas: their transactions really race, and
    # the unique index decides; within one committer, the batch decides in order.
    committers = [PushCommitter(PgPushRepository(pool)) for _ in range(2)]
    hashed, version, type_id = await contact_schema(committers[0], seeded.tokens["contact"])
    email = f"race-{secrets.token_hex(4)}@acme.no"
    results = await asyncio.gather(
        *(
            committers[i % 2].commit(
                push(hashed, version, planned(type_id, {"email": email}, ("email",)))
            )
            for i in range(10)
        )
    )
    records = {r.applied.record.id for r in results if r.applied is not None}
    actions = sorted(r.applied.record.action for r in results if r.applied is not None)
    assert len(records) == 1
    assert actions == ["created"] + ["updated"] * 9


async def test_one_batch_counts_each_push_against_the_limit_and_writes_the_count_once(
    pool: AsyncConnectionPool[Any], servers: Servers, seeded: DemoSeed
) -> None:
    made = await servers.admin.CreateIngestEndpoint(
        admin_pb2.CreateIngestEndpointRequest(
            parent=seeded.workspace,
            ingest_endpoint=admin_pb2.IngestEndpoint(
                entity_type="contact", rate_limit=5, rate_window_seconds=steady_window()
            ),
        ),
        metadata=seeded.auth,
    )
    repository = RecordingRepository(pool)
    committer = PushCommitter(repository)
    hashed, version, type_id = await contact_schema(committer, made.token)
    first = await committer.commit(
        push(hashed, version, planned(type_id, {"email": "r0@acme.no"}, ("email",)))
    )
    assert first.rate is not None
    assert first.rate.remaining == 4
    batch = [
        push(hashed, version, planned(type_id, {"email": f"r{i}@acme.no"}, ("email",)))
        for i in range(1, 7)
    ]
    results = await asyncio.gather(*(committer.commit(p) for p in batch), return_exceptions=True)
    assert repository.batch_sizes[-1] == len(batch)
    applied = [r for r in results if isinstance(r, PushOutcome)]
    assert [r.rate.remaining for r in applied if r.rate is not None] == [3, 2, 1, 0]
    assert [type(r).__name__ for r in results[4:]] == ["RateLimited", "RateLimited"]
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT hits FROM rate_windows WHERE subject = 'endpoint:' || %s",
            (made.ingest_endpoint.name.rsplit("/", 1)[1],),
        )
        assert [row[0] for row in await cur.fetchall()] == [7]
        # Nothing of the count is left behind in the session for the next transaction.
        cur = await conn.execute("SELECT current_setting('inlet.hits_endpoints', true)")
        assert (await cur.fetchone() or [None])[0] in (None, "")
    # The next transaction goes on from the written count.
    with pytest.raises(RateLimited):
        await committer.commit(
            push(hashed, version, planned(type_id, {"email": "r9@acme.no"}, ("email",)))
        )
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT hits FROM rate_windows WHERE subject = 'endpoint:' || %s",
            (made.ingest_endpoint.name.rsplit("/", 1)[1],),
        )
        assert [row[0] for row in await cur.fetchall()] == [8]
