"""Group commit and the push use case over an in-memory repository (no I/O)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from inlet_common import exactjson
from inlet_common.group_commit import GroupCommit
from inlet_store.domain import EntityTypeDef, ResolvedEndpoint
from inlet_store.errors import KeyRace, NotFound, UniqueConflictError
from inlet_store.guards import RateLimited
from inlet_store.push.repository import FailureEntry, Schema
from inlet_store.push.use_case import Planned, PushCommand, PushCommitter, PushOutcome


async def test_a_lone_submission_is_flushed_at_once() -> None:
    batches: list[list[int]] = []

    async def flush(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        return [i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(flush)
    assert await group.submit(1) == 10
    assert batches == [[1]]


async def test_what_arrives_during_a_flush_is_the_next_batch_each_answered_alone() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        if len(batches) == 1:
            await release.wait()
        return [ValueError(f"bad {i}") if i == 3 else i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(flush)
    first = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0)  # the lone one starts its flush
    later = [asyncio.create_task(group.submit(i)) for i in (2, 3, 4)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 10
    results = await asyncio.gather(*later, return_exceptions=True)
    assert results[0] == 20
    assert isinstance(results[1], ValueError)
    assert results[2] == 40
    assert batches == [[1], [2, 3, 4]]


async def test_a_failed_flush_fails_its_own_batch_only() -> None:
    calls = 0

    async def flush(items: list[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(flush)
    with pytest.raises(ConnectionError):
        await group.submit(1)
    assert await group.submit(2) == 2


async def test_a_caller_gone_before_its_batch_started_is_left_out() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        await release.wait()
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(flush)
    first = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0)
    gone = asyncio.create_task(group.submit(2))
    kept = asyncio.create_task(group.submit(3))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    assert (await first, await kept) == (1, 3)
    assert batches == [[1], [3]]


SCHEMA = Schema(
    version="v1",
    endpoint=ResolvedEndpoint(
        id="e1",
        workspace_id="w1",
        default_region="",
        entity_type=EntityTypeDef(id="t1", workspace_id="w1", slug="contact", display_name="C"),
        referenced={},
        rate_limit=10,
        rate_window_seconds=60,
    ),
)
RATE = {"limit": 10, "remaining": 9, "reset_seconds": 30, "window_seconds": 60}


class FakePushRepository:
    """Answers each push by its request id, as push_commit would; records every call."""

    def __init__(self, answers: dict[str, dict[str, Any]], *, fail_batches: bool = False) -> None:
        self.answers = answers
        self.fail_batches = fail_batches
        self.batches: list[list[str]] = []
        self.logged: list[FailureEntry] = []

    async def commit(self, pushes: list[bytes], attempts: int) -> list[dict[str, Any]]:
        ids = [exactjson.loads(p)["request_id"] for p in pushes]
        self.batches.append(ids)
        if self.fail_batches and len(ids) > 1:
            raise RuntimeError("a fault no push's subtransaction caught")
        if "req_broken" in ids:
            raise RuntimeError("this push breaks the statement")
        return [self.answers[i] for i in ids]

    async def log_failures(self, entries: list[FailureEntry]) -> None:
        self.logged.extend(entries)

    async def schema(self, token_hash: bytes) -> Schema | None:
        return SCHEMA if token_hash == b"known" else None


def command(request_id: str, token: bytes = b"known") -> PushCommand:
    return PushCommand(
        token_hash=token,
        schema_version="v1",
        request_id=request_id,
        record=Planned(entity_type_id="t1", values_json='{"email":"a@b.no"}'),
    )


APPLIED = {
    "status": "applied",
    "rate": RATE,
    "summary": {"record": {"id": "r1", "action": "created"}, "related": {}},
}
CONFLICT = {
    "status": "failed",
    "rate": RATE,
    "endpoint_id": "e1",
    "workspace_id": "w1",
    "failure": {
        "failure": "conflict",
        "entity": "record",
        "matches": [["email", "a@b.no", ["r1"]], ["phone", "+4712345678", ["r2"]]],
    },
}


async def test_a_conflict_in_a_batch_is_that_push_s_alone_and_logged_once() -> None:
    repository = FakePushRepository(
        {
            "req_a": APPLIED,
            "req_b": CONFLICT,
            "req_c": {**APPLIED, "status": "replayed"},
            "req_d": {"status": "rate_limited", "rate": {**RATE, "remaining": 0}},
        }
    )
    committer = PushCommitter(repository)
    results = await asyncio.gather(
        *(committer.commit(command(f"req_{x}")) for x in "abcd"), return_exceptions=True
    )
    applied, conflict, replayed, limited = results
    assert not isinstance(applied, BaseException)
    assert applied.applied is not None
    assert not applied.applied.replayed
    assert isinstance(conflict, UniqueConflictError)
    assert not isinstance(replayed, BaseException)
    assert replayed.applied is not None
    assert replayed.applied.replayed
    assert isinstance(limited, RateLimited)
    assert repository.batches == [["req_a", "req_b", "req_c", "req_d"]]
    [entry] = repository.logged
    assert (entry.request_id, entry.status_code) == ("req_b", 400)
    assert exactjson.loads(entry.outcome)["error"]["code"] == "UNIQUE_CONFLICT"


async def test_a_batch_that_fails_as_a_whole_is_applied_push_by_push() -> None:
    repository = FakePushRepository({"req_a": APPLIED, "req_c": APPLIED}, fail_batches=True)
    committer = PushCommitter(repository)
    first = asyncio.create_task(committer.commit(command("req_first")))
    repository.answers["req_first"] = APPLIED
    await asyncio.sleep(0)
    results = await asyncio.gather(
        *(committer.commit(command(r)) for r in ("req_a", "req_broken", "req_c")),
        return_exceptions=True,
    )
    await first
    assert not isinstance(results[0], BaseException)
    assert isinstance(results[1], RuntimeError)
    assert not isinstance(results[2], BaseException)
    assert repository.batches[1:] == [
        ["req_a", "req_broken", "req_c"],
        ["req_a"],
        ["req_broken"],
        ["req_c"],
    ]


async def test_a_stale_push_gets_the_current_schema_and_an_unknown_token_not_found() -> None:
    repository = FakePushRepository({"req_a": {"status": "stale"}})
    committer = PushCommitter(repository)
    outcome = await committer.commit(command("req_a"))
    assert outcome.schema == SCHEMA
    assert outcome.applied is None
    repository.answers["req_b"] = {"status": "not_found"}
    with pytest.raises(NotFound):
        await committer.commit(command("req_b"))


async def test_a_batch_is_sent_in_endpoint_order_and_answered_in_arrival_order() -> None:
    repository = FakePushRepository(
        {"req_b1": APPLIED, "req_a": {"status": "not_found"}, "req_b2": APPLIED}
    )
    committer = PushCommitter(repository)
    results = await asyncio.gather(
        committer.commit(command("req_b1", b"b")),
        committer.commit(command("req_a", b"a")),
        committer.commit(command("req_b2", b"b")),
        return_exceptions=True,
    )
    assert isinstance(results[0], PushOutcome)
    assert isinstance(results[1], NotFound)
    assert isinstance(results[2], PushOutcome)
    # One order of rate-limit rows for every batch; one endpoint's pushes as they came.
    assert repository.batches == [["req_a", "req_b1", "req_b2"]]


async def test_a_push_that_keeps_losing_races_is_aborted_and_logged() -> None:
    race = {**CONFLICT, "failure": {"failure": "race"}}
    repository = FakePushRepository({"req_a": race})
    committer = PushCommitter(repository)
    with pytest.raises(KeyRace):
        await committer.commit(command("req_a"))
    [entry] = repository.logged
    assert exactjson.loads(entry.outcome)["error"]["code"] == "UNIQUE_KEY_RACE"
