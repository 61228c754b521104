"""Two replicas of every service on one database, as processes: pushes, stream items and
webhooks through both edges are each handled once — nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo, postgres
from inlet_devstack.ports import Ports
from inlet_devstack.stack import Stack, running
from inlet_notifier import app as notifier_app
from inlet_notifier.secrets_at_rest import KeyRing
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from tests.messages import key_headers
from tests.metrics_support import scrape
from tests.polling import until
from tests.stream_support import sales_stream
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.e2e

SERVICES = ("gateway", "matcher", "store", "notifier")
REPLICAS = tuple(n for s in SERVICES for n in (s, f"{s}-2"))
FAST_ENV = {
    "INLET_WEBHOOK_ALLOW_PRIVATE": "true",
    "INLET_WEBHOOK_POLL_SECONDS": "0.05",
    "INLET_STREAM_POLL_SECONDS": "0.05",
}
CONTACTS = 30
RACERS = 6
STREAM_REQUESTS = 8
ITEMS_EACH = 5


@pytest.fixture(scope="module")
async def pair(server_url: str) -> AsyncIterator[Stack]:
    """Two of each service; the second gateway calls the second matcher, and so on."""
    url = postgres.create_database(server_url, "inlet_e2e_replicas")
    logs = Path(tempfile.mkdtemp(prefix="inlet-e2e-replicas-"))
    try:
        async with running(
            url, ports=Ports(0, 0, 0, 0), log_dir=logs, extra_env=FAST_ENV, replicas=2
        ) as stack:
            yield stack
    finally:
        postgres.drop_database(url)


def gateway_urls(stack: Stack) -> list[str]:
    return [stack.gateway_url, f"http://{stack.address('gateway-2')}"]


async def pushed(client: httpx.AsyncClient, url: str, token: str, email: str) -> dict[str, Any]:
    answer = await client.post(
        f"{url}/api/v1/ingest/{token}", json={"fields": {"name": "N", "email": email}}
    )
    assert answer.status_code == 200, answer.text
    record: dict[str, Any] = answer.json()["record"]
    return record


async def ingested(client: httpx.AsyncClient, url: str, key: str, n: int) -> str:
    items = [{"region": f"R{n}-{i}", "revenue": n * 10 + i} for i in range(ITEMS_EACH)]
    answer = await client.post(
        f"{url}/api/ingest", json=items, headers=key_headers(key, **{"X-Item-Key": "region"})
    )
    assert answer.status_code == 202, answer.text
    request_id: str = answer.json()["data"]["request_id"]
    return request_id


def rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


async def test_two_replicas_of_every_service_handle_each_push_item_and_webhook_once(
    pair: Stack,
) -> None:
    async with channel(pair.address("store")) as ch:
        seed = await demo.seed(
            admin_pb2_grpc.AdminServiceStub(ch),
            bootstrap_token=pair.bootstrap_token,
            workspace_slug=f"r{secrets.token_hex(6)}",
        )
    async with channel(pair.address("store-2")) as ch:
        sales = await sales_stream(
            admin_pb2_grpc.AdminServiceStub(ch), streams_pb2_grpc.StreamAdminServiceStub(ch), seed
        )
    workspace_id = seed.workspace.rsplit("/", 1)[1]
    before = {name: await scrape(pair.metrics_url(name)) for name in REPLICAS}
    pool = await notifier_app.open_pool(pair.database_url, max_size=2)
    try:
        async with receiving() as receiver:
            await Webhooks(
                pool, keys=KeyRing.parse(pair.webhook_secret_keys), allow_private=True
            ).create_endpoint(workspace_id, EndpointSpec(url=receiver.script("/all")))
            events = await run_the_load(
                pair, seed.tokens["contact"], sales.key, receiver, workspace_id
            )
    finally:
        await pool.close()

    # Each replica of every service took part (the N-th gateway calls the N-th matcher, …).
    after = {name: await scrape(pair.metrics_url(name)) for name in REPLICAS}
    # The notifiers take the outbox themselves (no RPC reaches them): whichever takes a batch
    # delivers it, so their share is counted in all, below.
    for name in REPLICAS:
        if name.startswith("notifier"):
            continue
        metric = (
            "inlet_gateway_requests_total"
            if name.startswith("gateway")
            else "inlet_grpc_requests_total"
        )
        assert after[name].total(metric) > before[name].total(metric), name
    # One attempt per event in all, whichever notifier made it.
    attempts = {
        name: after[name].total("inlet_webhook_attempts_total")
        - before[name].total("inlet_webhook_attempts_total")
        for name in ("notifier", "notifier-2")
    }
    assert sum(attempts.values()) == events, attempts


async def run_the_load(
    pair: Stack, token: str, key: str, receiver: Receiver, workspace_id: str
) -> int:
    """Pushes and stream requests through both gateways; the number of events delivered."""
    urls = gateway_urls(pair)
    racer = f"race-{secrets.token_hex(4)}@example.com"
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        contacts, racers, requests = await asyncio.gather(
            asyncio.gather(
                *(
                    pushed(client, urls[n % 2], token, f"c{n}-{secrets.token_hex(3)}@example.com")
                    for n in range(CONTACTS)
                )
            ),
            # The same new e-mail through both edges at once: one record.
            asyncio.gather(*(pushed(client, urls[n % 2], token, racer) for n in range(RACERS))),
            asyncio.gather(
                *(ingested(client, urls[n % 2], key, n) for n in range(STREAM_REQUESTS))
            ),
        )

        # Every push answered once, with its own record.
        assert Counter(r["action"] for r in contacts) == {"created": CONTACTS}
        assert len({r["id"] for r in contacts}) == CONTACTS
        assert Counter(r["action"] for r in racers) == {"created": 1, "updated": RACERS - 1}
        assert len({r["id"] for r in racers}) == 1

        # Every stream request completed, each item applied once (two matchers' workers
        # share the inbox).
        async def all_completed() -> bool:
            for n, request_id in enumerate(requests):
                got = await client.get(
                    f"{urls[n % 2]}/api/ingest/requests/{request_id}", headers=key_headers(key)
                )
                assert got.status_code == 200, got.text
                if got.json()["data"]["status"] != "completed":
                    return False
            return True

        await until(all_completed, within=60, what="every stream request completed")
    items = rows(
        pair.database_url,
        "SELECT request_id, item_index, action FROM stream_request_items"
        " WHERE request_id = ANY(%s)",
        requests,
    )
    assert len(items) == STREAM_REQUESTS * ITEMS_EACH
    assert Counter(action for _, _, action in items) == {"created": STREAM_REQUESTS * ITEMS_EACH}
    regions = rows(
        pair.database_url,
        "SELECT r.data->>'region' FROM records r JOIN entity_types t ON t.id = r.entity_type_id"
        " WHERE t.workspace_id = %s AND t.slug = 'sales'",
        workspace_id,
    )
    assert len(regions) == len({r for (r,) in regions}) == STREAM_REQUESTS * ITEMS_EACH

    # Every event of the workspace reached the receiver once: both stores relay, both
    # notifiers deliver, from the one outbox and the one delivery table.
    def settled() -> list[tuple[Any, ...]] | None:
        left = rows(
            pair.database_url,
            "SELECT (SELECT count(*) FROM outbox_events WHERE workspace_id = %s)"
            " + (SELECT count(*) FROM webhook_deliveries d JOIN webhook_events e"
            "     ON e.id = d.event_id WHERE e.workspace_id = %s AND d.status <> 'succeeded')",
            workspace_id,
            workspace_id,
        )
        if left[0][0]:
            return None
        return rows(
            pair.database_url,
            "SELECT id, type FROM webhook_events WHERE workspace_id = %s",
            workspace_id,
        )

    events = await until(settled, within=60, what="every event delivered")
    created = CONTACTS + 1 + STREAM_REQUESTS * ITEMS_EACH
    assert Counter(t for _, t in events) == {
        "record.created": created,
        "record.updated": RACERS - 1,
        "request.completed": STREAM_REQUESTS,
    }
    received = Counter(r.webhook_id for r in receiver.at("/all"))
    assert set(received) == {event_id for event_id, _ in events}
    assert set(received.values()) == {1}, "no webhook twice"
    return len(events)
