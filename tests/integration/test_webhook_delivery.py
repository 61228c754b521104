"""Webhook delivery against real PostgreSQL and a real receiver on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import standardwebhooks
import svix
from psycopg_pool import AsyncConnectionPool

from inlet_common.errors import InvalidArgument
from inlet_notifier import app as notifier_app
from inlet_notifier.delivery import Worker
from inlet_notifier.errors import BadWebhookUrl, PrivateTarget
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from tests.integration.webhook_fixtures import FAST, KEYS, own_database, url_of
from tests.polling import until
from tests.webhook_receiver import Answer, Receiver, all_recorded, event

# A database of its own: the e2e suite's notifier must not deliver these rows.
own_pool = own_database("inlet_webhooks", max_size=20)


async def deliveries(webhooks: Webhooks, workspace: str, endpoint: str) -> list[dict[str, Any]]:
    found, _ = await webhooks.list_deliveries(workspace, endpoint, None, 500, "")
    return found


def verify_both(secret: str, received: Any) -> dict[str, Any]:
    """Both libraries, unmodified, accept the delivery; the parsed body."""
    payload = standardwebhooks.Webhook(secret).verify(received.body, received.headers)
    # svix raises on a bad signature (its verify returns nothing in 2.x).
    svix.Webhook(secret).verify(received.body, received.headers)
    assert isinstance(payload, dict)
    return payload


async def test_500_500_200_is_delivered_on_the_third_attempt(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    url = receiver.script("/flaky", Answer(500), Answer(500))
    endpoint, secret = await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
    workers()
    sent = event(workspace, name="Ada")
    assert await webhooks.publish([sent]) == 1

    async def done() -> bool:
        found = await deliveries(webhooks, workspace, str(endpoint["id"]))
        return bool(found) and found[0]["status"] == "succeeded"

    await until(done, what="the delivery to succeed")
    got = receiver.at("/flaky")
    assert len(got) == 3
    assert {r.webhook_id for r in got} == {sent.id}
    for r in got:
        body = verify_both(secret, r)
        assert body["type"] == "record.created"
        assert body["data"]["name"] == "Ada"
        assert body["timestamp"].endswith("Z")
    (delivery,) = await deliveries(webhooks, workspace, str(endpoint["id"]))
    attempts = await webhooks.list_attempts(workspace, str(endpoint["id"]), str(delivery["id"]))
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert all(a["latency_ms"] >= 0 and a["response_snippet"] == "ok" for a in attempts)


async def test_410_disables_the_endpoint(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    url = receiver.script("/gone", then=Answer(410))
    endpoint, _ = await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
    workers()
    await webhooks.publish([event(workspace)])

    async def disabled() -> bool:
        found = await webhooks.get_endpoint(workspace, str(endpoint["id"]))
        return not found["enabled"]

    await until(disabled, what="the endpoint to be disabled")
    found = await webhooks.get_endpoint(workspace, str(endpoint["id"]))
    assert "410" in found["disabled_reason"]
    (delivery,) = await deliveries(webhooks, workspace, str(endpoint["id"]))
    assert delivery["status"] == "failed"
    assert len(receiver.at("/gone")) == 1
    # Disabled: new events make no deliveries.
    await webhooks.publish([event(workspace)])
    assert len(await deliveries(webhooks, workspace, str(endpoint["id"]))) == 1


async def test_retry_after_on_429_is_honoured(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    url = receiver.script("/busy", Answer(429, {"Retry-After": "3600"}))
    endpoint, _ = await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
    workers()
    await webhooks.publish([event(workspace)])

    # Read from the stored plan, not from a clock in the test: the schedule says 0.05 s,
    # Retry-After an hour, and the next attempt is planned after the hour.
    gap_sql = (
        "SELECT extract(epoch FROM d.next_attempt_time - a.end_time) FROM webhook_deliveries d"
        " JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.endpoint_id = %s"
        " AND d.attempt_count = 1"
    )

    async def gap() -> float | None:
        async with webhooks.pool.connection() as conn:
            row = await (await conn.execute(gap_sql, (str(endpoint["id"]),))).fetchone()
        return float(row[0]) if row else None

    assert await until(gap, what="the 429 to be recorded") >= 3590
    assert len(receiver.at("/busy")) == 1


async def test_exhausted_delivery_fails_then_recover_and_replay_send_it_again(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    url = receiver.script("/down", then=Answer(503))
    endpoint, secret = await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
    endpoint_id = str(endpoint["id"])
    workers(replace(FAST, schedule=(0, 0.01)))
    sent = event(workspace)
    await webhooks.publish([sent])

    async def status() -> str:
        (found,) = await deliveries(webhooks, workspace, endpoint_id)
        return str(found["status"])

    await until(lambda: _eq(status(), "failed"), what="the delivery to be exhausted")
    assert len(receiver.at("/down")) == 2
    async with webhooks.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT type FROM webhook_operational_events WHERE endpoint_id = %s", (endpoint_id,)
        )
        assert [r[0] for r in await cur.fetchall()] == ["delivery.exhausted"]

    receiver.default["/down"] = Answer(200)
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert await webhooks.recover(workspace, endpoint_id, since) == 1
    await until(lambda: _eq(status(), "succeeded"), what="the recovered delivery")
    (delivery,) = await deliveries(webhooks, workspace, endpoint_id)
    await webhooks.replay(workspace, endpoint_id, str(delivery["id"]))
    await until(lambda: len(receiver.at("/down")) == 4, what="the replay")
    assert {r.webhook_id for r in receiver.at("/down")} == {sent.id}
    verify_both(secret, receiver.at("/down")[-1])
    # Nothing failed since now: nothing to recover.
    assert await webhooks.recover(workspace, endpoint_id, datetime.now(UTC)) == 0


async def _eq(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_continuous_failure_past_the_window_disables_the_endpoint(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    url = receiver.script("/sick", then=Answer(500))
    endpoint, _ = await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
    workers(replace(FAST, schedule=(0,) + (0.05,) * 50, disable_after=0.3))
    await webhooks.publish([event(workspace)])

    async def disabled() -> bool:
        return not (await webhooks.get_endpoint(workspace, str(endpoint["id"])))["enabled"]

    await until(disabled, what="the automatic disable")
    found = await webhooks.get_endpoint(workspace, str(endpoint["id"]))
    assert "failing continuously" in found["disabled_reason"]


async def test_publishing_an_event_twice_delivers_it_once(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    url = receiver.script("/once")
    endpoint, _ = await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
    sent = event(workspace)
    assert await webhooks.publish([sent, sent]) == 1
    assert await webhooks.publish([sent]) == 0
    workers()
    await until(lambda: len(receiver.at("/once")) == 1, what="the delivery")
    assert len(await deliveries(webhooks, workspace, str(endpoint["id"]))) == 1


async def test_filters_choose_which_events_an_endpoint_gets(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    url = receiver.script("/filtered")
    spec = EndpointSpec(url=url, event_types=("record.updated",), entity_type_ids=("t1",))
    await webhooks.create_endpoint(workspace, spec)
    wanted = event(workspace, "record.updated", entity_type_id="t1")
    await webhooks.publish(
        [
            event(workspace, "record.created", entity_type_id="t1"),
            event(workspace, "record.updated", entity_type_id="t2"),
            wanted,
        ]
    )
    workers()
    await until(lambda: len(receiver.at("/filtered")) == 1, what="the delivery")
    assert receiver.at("/filtered")[0].webhook_id == wanted.id


async def test_rotated_secret_signs_alongside_the_old_one(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    url = receiver.script("/rotated")
    endpoint, old = await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
    new, until_time = await webhooks.rotate_secret(workspace, str(endpoint["id"]), 3600)
    assert new != old
    assert until_time > datetime.now(UTC)
    workers()
    await webhooks.publish([event(workspace)])
    await until(lambda: len(receiver.at("/rotated")) == 1, what="the delivery")
    got = receiver.at("/rotated")[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    verify_both(old, got)
    verify_both(new, got)


async def test_a_dead_endpoint_does_not_hold_up_a_healthy_one(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    dead = receiver.script("/dead", then=Answer(hang=True))
    healthy = receiver.script("/healthy")
    await webhooks.create_endpoint(
        workspace, EndpointSpec(url=dead, event_types=("ingest.failed",))
    )
    await webhooks.create_endpoint(
        workspace, EndpointSpec(url=healthy, event_types=("record.created",))
    )
    await webhooks.publish([event(workspace, "ingest.failed") for _ in range(30)])
    await webhooks.publish([event(workspace) for _ in range(10)])
    workers(replace(FAST, timeout=5.0, lease=10.0, max_in_flight=8))
    await until(lambda: len(receiver.at("/healthy")) == 10, what="the healthy deliveries")
    assert receiver.open_max["/dead"] <= FAST.per_endpoint


async def test_two_workers_deliver_2000_events_each_once_never_concurrently(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    urls = [receiver.script(f"/many{i}") for i in range(4)]
    endpoints = [(await webhooks.create_endpoint(workspace, EndpointSpec(url=u)))[0] for u in urls]
    sent = [event(workspace) for _ in range(500)]
    for start in range(0, len(sent), 250):
        await webhooks.publish(sent[start : start + 250])
    settings = replace(FAST, per_endpoint=16, max_in_flight=32)
    workers(settings, worker_id="one")
    workers(settings, worker_id="two")
    total = len(sent) * len(endpoints)
    await until(lambda: len(receiver.received) >= total, within=60, what="2000 deliveries")
    for i in range(4):
        assert sorted(r.webhook_id for r in receiver.at(f"/many{i}")) == sorted(e.id for e in sent)
    ids = [str(e["id"]) for e in endpoints]
    attempts = await all_recorded(webhooks.pool, ids, total)
    assert attempts.on_succeeded == total
    assert len(attempts.workers) == 2
    assert attempts.overlapping == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "https://100.64.0.1/hook",
    ],
)
async def test_private_targets_are_refused_at_creation(
    own_pool: AsyncConnectionPool[Any], workspace: str, url: str
) -> None:
    guarded = Webhooks(own_pool, keys=KEYS, allow_private=False)
    with pytest.raises(PrivateTarget, match="INLET_WEBHOOK_ALLOW_PRIVATE"):
        await guarded.create_endpoint(workspace, EndpointSpec(url=url))


@pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com/hook", "http://"])
async def test_bad_urls_are_refused(webhooks: Webhooks, workspace: str, url: str) -> None:
    with pytest.raises(BadWebhookUrl, match="url"):
        await webhooks.create_endpoint(workspace, EndpointSpec(url=url))


async def test_a_missing_url_is_refused_naming_the_field(
    webhooks: Webhooks, workspace: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await webhooks.create_endpoint(workspace, EndpointSpec(url=""))
    assert caught.value.reason == "INVALID_ARGUMENT"
    assert [(v.field, v.reason) for v in caught.value.violations] == [
        ("webhook_endpoint.url", "REQUIRED_FIELD_MISSING")
    ]


async def test_private_targets_are_refused_at_delivery(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    url = receiver.script("/private")
    endpoint, _ = await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
    workers(replace(FAST, allow_private=False, schedule=(0,)))
    await webhooks.publish([event(workspace)])

    async def failed() -> bool:
        found = await deliveries(webhooks, workspace, str(endpoint["id"]))
        return bool(found) and found[0]["status"] == "failed"

    await until(failed, what="the refused delivery")
    (delivery,) = await deliveries(webhooks, workspace, str(endpoint["id"]))
    (attempt,) = await webhooks.list_attempts(workspace, str(endpoint["id"]), str(delivery["id"]))
    assert attempt["status_code"] is None
    assert "private" in attempt["error"]
    assert receiver.at("/private") == []


async def test_bad_page_token_and_unknown_event_type_are_refused(
    webhooks: Webhooks, workspace: str
) -> None:
    from inlet_common.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="page_token"):
        await webhooks.list_endpoints(workspace, 10, "garbage!")
    with pytest.raises(InvalidArgument) as info:
        await webhooks.create_endpoint(
            workspace, EndpointSpec(url="http://example.com/", event_types=("record.eaten",))
        )
    assert info.value.violations[0].field == "webhook_endpoint.event_types[0]"


async def test_endpoints_page(webhooks: Webhooks, workspace: str) -> None:
    for i in range(5):
        await webhooks.create_endpoint(workspace, EndpointSpec(url=f"http://example.com/{i}"))
    seen: list[str] = []
    token = ""
    while True:
        page, token = await webhooks.list_endpoints(workspace, 2, token)
        seen.extend(p["url"] for p in page)
        if not token:
            break
    assert seen == [f"http://example.com/{i}" for i in range(5)]


_ = aiohttp  # the worker's client library; imported so a missing install fails here first


async def test_racing_claimers_never_lease_more_than_the_per_endpoint_cap(
    own_pool: AsyncConnectionPool[Any], webhooks: Webhooks, workspace: str
) -> None:
    # Claims only (no worker started): twelve claimers at once, each with a connection of
    # its own open beforehand, against one endpoint with a backlog far above its cap.
    endpoint, _ = await webhooks.create_endpoint(
        workspace, EndpointSpec(url="http://127.0.0.1:9/capped")
    )
    await webhooks.publish([event(workspace) for _ in range(60)])
    settings = replace(FAST, per_endpoint=3, lease=30.0)
    pools = [await notifier_app.open_pool(url_of(own_pool), max_size=2) for _ in range(12)]
    claimers = [Worker(pool, settings, keys=KEYS) for pool in pools]
    try:
        for _ in range(10):
            claims = await asyncio.gather(*(c.claim(10) for c in claimers))
            # Only this endpoint's leases count: deliveries other tests of this module left
            # due on their own endpoints may be claimed beside them.
            leased = [
                c for batch in claims for c in batch if str(c["endpoint_id"]) == str(endpoint["id"])
            ]
            assert len(leased) == 3
            async with own_pool.connection() as conn:
                await conn.execute(
                    "UPDATE webhook_deliveries SET lease_until = NULL WHERE endpoint_id = %s",
                    (endpoint["id"],),
                )
    finally:
        for claimer, pool in zip(claimers, pools, strict=True):
            await claimer.poster.close()
            await pool.close()
