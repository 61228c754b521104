"""Pushes applied together (set-based) answer and write exactly as one by one would."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from inlet_common.credentials import token_hash
from inlet_devstack import demo
from inlet_store.push.repository import PgPushRepository
from inlet_store.push.use_case import Planned, PushCommand, PushCommitter
from tests.integration.conftest import Servers
from tests.outbox_subscribers import subscribe
from tests.push_commit_support import planned, schema_version

UNIQUE = ("email", "phone")


class Workspace:
    """A fresh demo workspace's contact endpoint, pushed to through push_commit directly."""

    def __init__(self, pool: AsyncConnectionPool[Any], label: str) -> None:
        self.pool = pool
        self.label = label
        self.repository = PgPushRepository(pool)
        self.committer = PushCommitter(self.repository)
        self.hashed = b""
        self.version = ""
        self.type_id = ""
        self.workspace_id = ""

    async def open(self, servers: Servers) -> Workspace:
        seeded = await demo.seed(
            servers.admin,
            bootstrap_token=servers.bootstrap_token,
            workspace_slug=f"t{secrets.token_hex(6)}",
        )
        self.hashed = token_hash(seeded.tokens["contact"])
        self.version = await schema_version(self.committer, self.hashed)
        found = await self.repository.schema(self.hashed)
        assert found is not None
        self.type_id = found.endpoint.entity_type.id
        self.workspace_id = found.endpoint.workspace_id
        await subscribe(self.pool, self.workspace_id)
        return self

    def contact(self, **values: Any) -> Planned:
        return planned(self.type_id, values, UNIQUE)

    def push(self, n: int, values: dict[str, Any], **more: Any) -> bytes:
        return self.committer.document(
            PushCommand(
                token_hash=self.hashed,
                schema_version=self.version,
                request_id=f"req_{self.label}{n}",
                record=self.contact(**values),
                **more,
            )
        )

    async def commit(self, documents: list[bytes]) -> list[dict[str, Any]]:
        return await self.repository.commit(documents, 8)

    async def events(self) -> list[tuple[str, str, str | None]]:
        """(type, data, traceparent) of the workspace's events by request id, whether
        still in the outbox or already taken by a notifier (the suite may run one)."""
        found = await self.rows(
            "SELECT type, data::text, traceparent FROM outbox_events WHERE workspace_id = %s"
            " UNION ALL"
            " SELECT type, data::text, traceparent FROM webhook_events WHERE workspace_id = %s",
            self.workspace_id,
            self.workspace_id,
        )
        return sorted(found, key=lambda e: (orjson.loads(e[1])["request_id"], e[0]))

    async def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return list(await cur.fetchall())


class Names:
    """Record ids (and request ids) by order of first sight, so two workspaces compare."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.ids: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        text = str(value)
        if text.startswith(f"req_{self.label}"):
            return "req_" + text[len(f"req_{self.label}") :]
        if len(text) == 36 and text.count("-") == 4:
            return self.ids.setdefault(text, f"id{len(self.ids)}")
        return value


BEFORE = [
    {"email": "e1@acme.no", "phone": "+4790000001", "name": "Ola"},
    {"email": "e2@acme.no", "phone": "+4790000002"},
    {"email": "e3@acme.no", "phone": "+4790000003"},
    {"email": "e4@acme.no", "phone": "+4790000004"},
    {"email": "e5@acme.no"},
]

# Together-eligible first (new, matched by one key, matched by another with a key moved, a
# unique value cleared, keyed), then what goes one by one (a key two pushes share, a
# conflict, an Idempotency-Key replay).
BATCH: list[tuple[dict[str, Any], str]] = [
    ({"email": "n1@acme.no", "name": "Kari"}, ""),
    ({"email": "n2@acme.no", "phone": "+4791000002"}, ""),
    ({"email": "e1@acme.no", "name": "Ola Nordmann"}, ""),
    ({"email": "e3b@acme.no", "phone": "+4790000003"}, ""),
    ({"email": "e2@acme.no", "phone": None}, ""),
    ({"email": "k1@acme.no"}, "key-1"),
    ({"email": "s1@acme.no", "name": "first"}, ""),
    ({"email": "s1@acme.no", "name": "second"}, ""),
    ({"email": "e5@acme.no", "phone": "+4790000004"}, ""),
    ({"email": "k0@acme.no"}, "key-0"),
]
TOGETHER = 6  # the first six go together


async def _prepare(ws: Workspace) -> None:
    for n, values in enumerate(BEFORE):
        [answer] = await ws.commit([ws.push(100 + n, values)])
        assert answer["status"] == "applied"
    [answer] = await ws.commit(
        [ws.push(200, {"email": "k0@acme.no"}, idempotency_key="key-0", body_hash=b"\x01")]
    )
    assert answer["status"] == "applied"


def _batch(ws: Workspace) -> list[bytes]:
    return [
        ws.push(n, values, idempotency_key=key, body_hash=b"\x01" if key else b"")
        for n, (values, key) in enumerate(BATCH)
    ]


async def _written(ws: Workspace, answers: list[dict[str, Any]]) -> dict[str, Any]:
    names = Names(ws.label)
    for answer in answers:  # ids named in answer order first
        names(answer.get("summary"))
    shown = [
        {k: v for k, v in answer.items() if k not in ("endpoint_id", "workspace_id")}
        for answer in answers
    ]
    for answer in shown:
        if "rate" in answer:
            answer["rate"] = {k: v for k, v in answer["rate"].items() if k != "reset_seconds"}
    activity = await ws.rows(
        "SELECT a.request_id, a.status_code, a.outcome::text, a.record_ids::text[]"
        "  FROM activity_entries a JOIN ingest_endpoints e ON e.id = a.endpoint_id"
        " WHERE e.workspace_id = %s ORDER BY a.id",
        ws.workspace_id,
    )
    events = [(t, d) for t, d, _ in await ws.events()]
    records = await ws.rows(
        "SELECT id::text, data::text FROM records WHERE workspace_id = %s", ws.workspace_id
    )
    keys = await ws.rows(
        "SELECT field_slug, value, record_id::text FROM record_keys WHERE workspace_id = %s",
        ws.workspace_id,
    )
    return {
        "answers": names(shown),
        "activity": [names([r, s, orjson.loads(o), ids]) for r, s, o, ids in activity],
        "events": [[t, names(orjson.loads(d))] for t, d in events],
        "records": sorted(names([[i, orjson.loads(d)] for i, d in records])),
        "keys": sorted(names([list(k) for k in keys])),
    }


async def test_a_batch_applied_together_answers_and_writes_as_one_by_one(
    pool: AsyncConnectionPool[Any], servers: Servers
) -> None:
    together = await Workspace(pool, "A").open(servers)
    alone = await Workspace(pool, "B").open(servers)
    for ws in (together, alone):
        await _prepare(ws)
    answers_together = await together.commit(_batch(together))
    answers_alone = [(await alone.commit([document]))[0] for document in _batch(alone)]
    assert [a["status"] for a in answers_together] == [
        *["applied"] * 8,
        "failed",
        "replayed",
    ]
    written = await _written(together, answers_together)
    assert written == await _written(alone, answers_alone)
    # Values exactly as sent; the shared key applied in order; the key moved; rates count down.
    actions = [a["summary"]["record"]["action"] for a in answers_together[:8]]
    together_actions = ["created", "created", "updated", "updated", "updated", "created"]
    assert actions == [*together_actions, "created", "updated"]
    assert answers_together[3]["summary"]["record"]["matched_on"] == ["phone"]
    remaining = [a["rate"]["remaining"] for a in answers_together]
    assert remaining == sorted(remaining, reverse=True)
    assert len(set(remaining)) == len(remaining)
    # The first six were written by one subtransaction (one xmin), the others each by their own.
    ids = [a["summary"]["record"]["id"] for a in answers_together[:8]]
    xmins = await together.rows(
        "SELECT id::text, xmin::text FROM records WHERE id = ANY(%s::uuid[])", ids
    )
    by_id = dict(xmins)
    assert len({by_id[i] for i in ids[:TOGETHER]}) == 1
    assert by_id[ids[6]] != by_id[ids[0]]


async def test_a_key_a_concurrent_writer_commits_first_sends_the_set_one_by_one(
    pool: AsyncConnectionPool[Any], servers: Servers
) -> None:
    ws = await Workspace(pool, "C").open(servers)
    async with await psycopg.AsyncConnection.connect(str(pool.conninfo)) as rival:
        # Another writer holds a new key, uncommitted: the set's lookup cannot see it, its
        # key insert waits for it, then finds it taken.
        await rival.execute(
            "INSERT INTO records (id, workspace_id, entity_type_id, data)"
            " VALUES ('00000000-0000-4000-8000-000000000001', %s, %s, '{}')",
            (ws.workspace_id, ws.type_id),
        )
        await rival.execute(
            "INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value, record_id)"
            " VALUES (%s, %s, 'email', 'raced@acme.no',"
            " '00000000-0000-4000-8000-000000000001')",
            (ws.workspace_id, ws.type_id),
        )
        batch = [
            ws.push(0, {"email": "raced@acme.no", "name": "mine"}),
            ws.push(1, {"email": "other@acme.no"}),
        ]
        pending = asyncio.create_task(ws.commit(batch))
        await asyncio.wait_for(_until_waiting(pool), 10)
        await rival.commit()
    first, second = await pending
    # Decided again, one by one: the raced key's record is updated, not duplicated.
    assert first["status"] == "applied"
    assert first["summary"]["record"] == {
        "id": "00000000-0000-4000-8000-000000000001",
        "action": "updated",
        "matched_on": ["email"],
    }
    assert second["summary"]["record"]["action"] == "created"
    [(count,)] = await ws.rows(
        "SELECT count(*) FROM record_keys WHERE workspace_id = %s AND value = 'raced@acme.no'",
        ws.workspace_id,
    )
    assert count == 1
    # Nothing of the undone set is left: two records, two activity entries.
    [(records,)] = await ws.rows(
        "SELECT count(*) FROM records WHERE workspace_id = %s", ws.workspace_id
    )
    assert records == 2
    [(entries,)] = await ws.rows(
        "SELECT count(*) FROM activity_entries WHERE request_id IN ('req_C0', 'req_C1')"
    )
    assert entries == 2


async def _until_waiting(pool: AsyncConnectionPool[Any]) -> None:
    """Until some backend waits on a lock (the set's key insert, behind the rival)."""
    while True:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            )
            if (await cur.fetchone() or [0])[0] > 0:
                return
        await asyncio.sleep(0.01)


async def test_each_push_of_a_set_keeps_its_own_trace(
    pool: AsyncConnectionPool[Any], servers: Servers
) -> None:
    ws = await Workspace(pool, "D").open(servers)
    traces = [f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01" for _ in range(3)]
    batch = [
        ws.committer.document(
            PushCommand(
                token_hash=ws.hashed,
                schema_version=ws.version,
                request_id=f"req_D{n}",
                record=ws.contact(email=f"t{n}@acme.no"),
                traceparent=trace,
            )
        )
        for n, trace in enumerate(traces)
    ]
    answers = await ws.commit(batch)
    assert [a["status"] for a in answers] == ["applied"] * 3
    entries = await ws.rows(
        "SELECT request_id, trace_id FROM activity_entries WHERE request_id LIKE 'req_D%%'"
        " ORDER BY request_id"
    )
    assert entries == [(f"req_D{n}", t.split("-")[1]) for n, t in enumerate(traces)]
    events = [(orjson.loads(d)["request_id"], t) for _, d, t in await ws.events()]
    assert events == [(f"req_D{n}", t) for n, t in enumerate(traces)]
