"""Races over real HTTP through the gateway: many concurrent writes of one new unique
value — the same spelling, many spellings of one phone, and every dialect at once on the
same entity type — make one record, and exactly one of them says `created`."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack.demo import DEMO_TYPES, DemoSeed
from inlet_devstack.stack import Stack
from tests import external_support as ext
from tests.messages import key_headers, push_url, records
from tests.stream_support import finished_over_http, sales_stream

pytestmark = pytest.mark.e2e

PUSHES = 1000
# Fewer for the spellings: every push after the first updates the same row, one at a time.
SPELLED = 400
IN_FLIGHT = 100
# One Norwegian mobile number as people write it (the endpoint's region is NO).
PHONE = "+4799887766"
SPELLINGS = (
    "+47 998 87 766",
    "99887766",
    "0047 99887766",
    "(+47) 99 88 77 66",
    "+47-998-87-766",
    "998 87 766",
    "+47.998.87.766",
    " +4799887766 ",
)

T = TypeVar("T")


async def bounded(calls: Sequence[Callable[[], Awaitable[T]]], limit: int = IN_FLIGHT) -> list[T]:
    """Run every call, at most `limit` at once; their results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


@pytest.fixture
async def racer(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client with as many connections as requests in flight."""
    # Idle connections are dropped well before the gateway's keep-alive timeout (uvicorn's
    # 5 s), so a request is never sent on one the server is closing.
    limits = httpx.Limits(
        max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT, keepalive_expiry=1.0
    )
    async with httpx.AsyncClient(base_url=stack.gateway_url, limits=limits, timeout=120) as client:
        yield client


async def push_all(
    http: httpx.AsyncClient, seed: DemoSeed, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def call(body: dict[str, Any]) -> Callable[[], Awaitable[httpx.Response]]:
        return lambda: http.post(push_url(seed, "contact"), json=body)

    answers = await bounded([call(b) for b in bodies])
    assert [a.status_code for a in answers] == [200] * len(bodies), next(
        a.text for a in answers if a.status_code != 200
    )
    return [a.json()["record"] for a in answers]


async def test_1000_concurrent_pushes_of_one_new_email_make_one_record(
    racer: httpx.AsyncClient, admin: admin_pb2_grpc.AdminServiceAsyncStub, seeded: DemoSeed
) -> None:
    bodies = [{"fields": {"email": "race@acme.no", "name": f"n{i}"}} for i in range(PUSHES)]
    answers = await push_all(racer, seeded, bodies)
    assert len({a["id"] for a in answers}) == 1
    assert sorted(a["action"] for a in answers) == ["created"] + ["updated"] * (PUSHES - 1)
    assert len(await records(admin, seeded, "contact")) == 1


async def test_one_phone_in_many_spellings_at_once_makes_one_record(
    racer: httpx.AsyncClient, admin: admin_pb2_grpc.AdminServiceAsyncStub, seeded: DemoSeed
) -> None:
    spellings = itertools.islice(itertools.cycle(SPELLINGS), SPELLED)
    answers = await push_all(racer, seeded, [{"fields": {"phone": p}} for p in spellings])
    assert len({a["id"] for a in answers}) == 1
    assert [a["action"] for a in answers].count("created") == 1
    [record] = await records(admin, seeded, "contact")
    assert record["values"]["phone"] == PHONE


async def test_every_dialect_at_once_on_one_email_makes_one_record(
    racer: httpx.AsyncClient,
    stack: Stack,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    seeded: DemoSeed,
) -> None:
    each = 100
    email = "everyone@acme.no"
    contacts = await sales_stream(admin, streams_admin, seeded, entity_type=DEMO_TYPES[0])
    async with channel(stack.address("store")) as ch:
        integrations = ext.stub(ch)
        token = await ext.project_token(integrations, seeded)
        await ext.integration(integrations, seeded, "crm", "GENERIC", "contact")

    def endpoint(i: int) -> Callable[[], Awaitable[httpx.Response]]:
        return lambda: racer.post(
            push_url(seeded, "contact"), json={"fields": {"email": email, "name": f"e{i}"}}
        )

    def stream(i: int) -> Callable[[], Awaitable[httpx.Response]]:
        return lambda: racer.post(
            "/api/ingest",
            json={"email": email, "name": f"s{i}"},
            headers=key_headers(contacts.key),
        )

    def integration(i: int) -> Callable[[], Awaitable[httpx.Response]]:
        return lambda: racer.post(
            "/api/v1/external/data-ingestion/crm",
            json={"email": email, "name": f"i{i}"},
            headers=token.headers(),
        )

    calls = [make(i) for i in range(each) for make in (endpoint, stream, integration)]
    answers = await bounded(calls)
    pushed, streamed, ingested = answers[0::3], answers[1::3], answers[2::3]
    assert {a.status_code for a in pushed} == {200}
    assert {a.status_code for a in streamed} == {202}
    assert {a.status_code for a in ingested} == {202}

    actions = [a.json()["record"]["action"] for a in pushed]
    ids = {a.json()["record"]["id"] for a in pushed}

    async def stream_items(answer: httpx.Response) -> list[dict[str, Any]]:
        done = await finished_over_http(racer, contacts.key, answer.json()["data"]["request_id"])
        items: list[dict[str, Any]] = done["items"]
        return items

    async def integration_items(answer: httpx.Response) -> list[dict[str, Any]]:
        done = await ext.finished(racer, token, ext.request_id_of(answer))
        items: list[dict[str, Any]] = done["items"]
        return items

    waits: list[Callable[[], Awaitable[list[dict[str, Any]]]]] = [
        *(lambda a=a: stream_items(a) for a in streamed),
        *(lambda a=a: integration_items(a) for a in ingested),
    ]
    for items in await bounded(waits, limit=20):
        [item] = items
        actions.append(item["action"])
        ids.add(item["record_id"])
    assert len(ids) == 1
    assert sorted(actions) == ["created"] + ["updated"] * (3 * each - 1)
    [record] = await records(admin, seeded, "contact")
    assert record["values"]["email"] == email
