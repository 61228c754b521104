"""Webhook signing secrets encrypted at rest, against real PostgreSQL and a real receiver."""

from __future__ import annotations

import asyncio
import signal
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
from psycopg_pool import AsyncConnectionPool

from inlet_notifier import app as notifier_app
from inlet_notifier import signing
from inlet_notifier.delivery import Worker
from inlet_notifier.secrets_at_rest import KeyRing, new_key_ring
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from tests.integration.webhook_fixtures import KEYS, RING, own_database, url_of
from tests.polling import until
from tests.webhook_receiver import Received, Receiver, event, start_notifier

# A database of its own: the start-up pass below seals every row of its database.
own_pool = own_database("inlet_webhook_secrets", max_size=10)


async def delivered(
    webhooks: Webhooks, workspace: str, receiver: Receiver, path: str, *signed_by: str
) -> Received:
    """Publish one event and wait for its one request at `path` (a worker must be running);
    each of `signed_by` must verify it. The request."""
    await webhooks.publish([event(workspace)])
    await until(lambda: len(receiver.at(path)) == 1, what="the delivery")
    got = receiver.at(path)[0]
    for secret in signed_by:
        standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    return got


async def stored(pool: AsyncConnectionPool[Any], endpoint_id: str) -> dict[str, Any]:
    """The raw row, every column as text (what a dump or backup holds)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e::text AS whole, secret, previous_secret FROM webhook_endpoints e"
            " WHERE id = %s",
            (endpoint_id,),
        )
        found = await cur.fetchone()
    assert found is not None
    whole, secret, previous = found
    return {"whole": whole, "secret": secret, "previous_secret": previous}


async def insert_clear(
    pool: AsyncConnectionPool[Any], workspace: str, url: str, secret: str, previous: str | None
) -> str:
    """An endpoint row as a release before encryption at rest wrote it."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO webhook_endpoints (workspace_id, url, secret, previous_secret,"
            " previous_secret_until) VALUES (%s, %s, %s, %s, now() + interval '1 hour')"
            " RETURNING id",
            (workspace, url, secret, previous),
        )
        found = await cur.fetchone()
    assert found is not None
    return str(found[0])


async def attempts_of(pool: AsyncConnectionPool[Any], endpoint_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT a.status_code, a.error FROM webhook_attempts a"
            " JOIN webhook_deliveries d ON d.id = a.delivery_id"
            " WHERE d.endpoint_id = %s ORDER BY a.id",
            (endpoint_id,),
        )
        return [{"status_code": r[0], "error": r[1]} for r in await cur.fetchall()]


async def test_created_and_rotated_secrets_are_sealed_in_the_row_and_still_sign(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    url = receiver.script("/sealed")
    endpoint, old = await webhooks.create_endpoint(workspace, EndpointSpec(url=url))
    endpoint_id = str(endpoint["id"])
    new, _ = await webhooks.rotate_secret(workspace, endpoint_id, 3600)
    row = await stored(webhooks.pool, endpoint_id)
    assert "whsec_" not in row["whole"]
    for secret in (old, new):
        assert secret.removeprefix("whsec_") not in row["whole"]
    assert row["secret"].startswith("enc:v1:k1:")
    assert row["previous_secret"].startswith("enc:v1:k1:")
    assert KEYS.open(endpoint_id, row["secret"]) == new
    assert KEYS.open(endpoint_id, row["previous_secret"]) == old
    # What the API hands back carries no secret either.
    listed, _ = await webhooks.list_endpoints(workspace, 10, "")
    assert all("whsec_" not in str(e) for e in listed)

    workers()
    got = await delivered(webhooks, workspace, receiver, "/sealed", new, old)
    assert len(got.headers["webhook-signature"].split(" ")) == 2


async def test_a_clear_row_is_sealed_by_the_start_up_pass_and_still_delivers(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    secret, previous = signing.new_secret(), signing.new_secret()
    endpoint_id = await insert_clear(
        webhooks.pool, workspace, receiver.script("/legacy"), secret, previous
    )
    assert (await stored(webhooks.pool, endpoint_id))["secret"] == secret

    assert await webhooks.seal_stored_secrets() >= 1
    row = await stored(webhooks.pool, endpoint_id)
    assert "whsec_" not in row["whole"]
    assert KEYS.open(endpoint_id, row["secret"]) == secret
    assert KEYS.open(endpoint_id, row["previous_secret"]) == previous
    # Idempotent: a second start finds nothing to do and changes nothing.
    assert await webhooks.seal_stored_secrets() == 0
    assert await stored(webhooks.pool, endpoint_id) == row

    workers()
    await delivered(webhooks, workspace, receiver, "/legacy", secret, previous)


async def test_a_clear_row_not_yet_sealed_still_delivers(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    # Mid-upgrade: a row an older notifier wrote after this one's start-up pass.
    secret = signing.new_secret()
    await insert_clear(webhooks.pool, workspace, receiver.script("/midway"), secret, None)
    workers()
    await delivered(webhooks, workspace, receiver, "/midway", secret)


async def test_two_notifiers_starting_at_once_seal_each_clear_row_once(
    own_pool: AsyncConnectionPool[Any], workspace: str
) -> None:
    await Webhooks(own_pool, keys=KEYS).seal_stored_secrets()  # earlier tests' clear rows
    ids = [
        await insert_clear(
            own_pool, workspace, f"http://example.com/{i}", signing.new_secret(), None
        )
        for i in range(40)
    ]
    async with own_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, secret FROM webhook_endpoints WHERE id = ANY(%s::uuid[])", (ids,)
        )
        before = {str(r[0]): r[1] for r in await cur.fetchall()}
    pools = [await notifier_app.open_pool(url_of(own_pool), max_size=2) for _ in range(2)]
    try:
        counts = await asyncio.gather(
            *(Webhooks(p, keys=KEYS).seal_stored_secrets() for p in pools)
        )
    finally:
        for pool in pools:
            await pool.close()
    assert sum(counts) == len(ids)
    async with own_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, secret FROM webhook_endpoints WHERE id = ANY(%s::uuid[])", (ids,)
        )
        after = {str(r[0]): r[1] for r in await cur.fetchall()}
    for endpoint_id, secret in after.items():
        assert secret.startswith("enc:v1:k1:")
        assert KEYS.open(endpoint_id, secret) == before[endpoint_id]


async def test_a_new_first_key_reseals_at_start_and_the_old_one_can_then_go(
    own_pool: AsyncConnectionPool[Any],
    workspace: str,
    receiver: Receiver,
    workers: Callable[..., Worker],
) -> None:
    url = receiver.script("/rekeyed")
    endpoint, secret = await Webhooks(own_pool, keys=KEYS, allow_private=True).create_endpoint(
        workspace, EndpointSpec(url=url)
    )
    endpoint_id = str(endpoint["id"])
    new_ring = new_key_ring("k2")
    rotated = Webhooks(own_pool, keys=KeyRing.parse(f"{new_ring},{RING}"), allow_private=True)
    assert await rotated.seal_stored_secrets() >= 1
    assert (await stored(own_pool, endpoint_id))["secret"].startswith("enc:v1:k2:")
    # Everything is under k2 now: a ring without k1 delivers.
    workers(keys=KeyRing.parse(new_ring))
    await delivered(rotated, workspace, receiver, "/rekeyed", secret)
    # Back under k1 for the tests after this one (their ring is k1 only).
    assert await Webhooks(own_pool, keys=KeyRing.parse(f"{RING},{new_ring}")).seal_stored_secrets()


async def test_after_losing_a_key_rotating_with_no_grace_recovers_the_endpoint(
    webhooks: Webhooks, workspace: str, receiver: Receiver, workers: Callable[..., Worker]
) -> None:
    lost = Webhooks(webhooks.pool, keys=KeyRing.parse(new_key_ring("lost")), allow_private=True)
    endpoint, _ = await lost.create_endpoint(
        workspace, EndpointSpec(url=receiver.script("/recovered"))
    )
    endpoint_id = str(endpoint["id"])
    new, _ = await webhooks.rotate_secret(workspace, endpoint_id, 0)
    # The start-up pass drops the expired previous secret no key opens.
    assert await webhooks.seal_stored_secrets() >= 1
    row = await stored(webhooks.pool, endpoint_id)
    assert row["previous_secret"] is None
    assert KEYS.open(endpoint_id, row["secret"]) == new
    workers()
    got = await delivered(webhooks, workspace, receiver, "/recovered", new)
    assert len(got.headers["webhook-signature"].split(" ")) == 1


@pytest.mark.parametrize("wrong", ["unknown key id", "other key, same id", "copied row"])
async def test_a_secret_that_does_not_open_is_never_sent_and_names_the_endpoint(
    webhooks: Webhooks,
    workspace: str,
    receiver: Receiver,
    workers: Callable[..., Worker],
    wrong: str,
) -> None:
    path = f"/locked-{uuid.uuid4().hex[:8]}"
    endpoint, secret = await webhooks.create_endpoint(
        workspace, EndpointSpec(url=receiver.script(path))
    )
    endpoint_id = str(endpoint["id"])
    keys = KEYS
    if wrong == "unknown key id":
        keys = KeyRing.parse(new_key_ring("elsewhere"))
        expected = "encrypted with key 'k1', which INLET_WEBHOOK_SECRET_KEYS does not hold"
    elif wrong == "other key, same id":
        keys = KeyRing.parse(new_key_ring("k1"))
        expected = "does not decrypt with key 'k1'"
    else:
        # Another endpoint's sealed secret pasted into this row: bound to the other id.
        other, _ = await webhooks.create_endpoint(
            workspace, EndpointSpec(url="http://example.com/other", event_types=("ingest.failed",))
        )
        async with webhooks.pool.connection() as conn:
            await conn.execute(
                "UPDATE webhook_endpoints SET secret ="
                " (SELECT secret FROM webhook_endpoints WHERE id = %s) WHERE id = %s",
                (other["id"], endpoint_id),
            )
        expected = "belongs to another endpoint"
    workers(keys=keys)
    await webhooks.publish([event(workspace)])

    async def tried_twice() -> bool:
        return len(await attempts_of(webhooks.pool, endpoint_id)) >= 2

    # Retried on the schedule like any failure; nothing reaches the endpoint.
    await until(tried_twice, what="attempts that send nothing")
    attempts = await attempts_of(webhooks.pool, endpoint_id)
    assert all(a["status_code"] is None for a in attempts)
    assert all(endpoint_id in a["error"] and expected in a["error"] for a in attempts)
    assert all(secret not in a["error"] for a in attempts)
    assert receiver.at(path) == []
    # The key ring is at fault, not the endpoint: its failure window does not start.
    found = await webhooks.get_endpoint(workspace, endpoint_id)
    assert found["failing_since"] is None
    assert found["enabled"]


@pytest.mark.e2e
async def test_the_notifier_process_seals_clear_rows_before_it_serves(
    own_pool: AsyncConnectionPool[Any], workspace: str
) -> None:
    secret = signing.new_secret()
    endpoint_id = await insert_clear(own_pool, workspace, "http://example.com/p", secret, None)
    port_file = Path(tempfile.mkdtemp(prefix="inlet-notifier-")) / "port"
    process = await start_notifier(
        url_of(own_pool),
        port_file,
        {"INLET_WEBHOOK_SECRET_KEYS": RING},
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # The pass runs before the port is bound: sealed by the time anyone can call.
        row = await stored(own_pool, endpoint_id)
        assert "whsec_" not in row["whole"]
        assert KEYS.open(endpoint_id, row["secret"]) == secret
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert b"sealed under key k1" in err
    assert RING.split(":", 1)[1].encode() not in err
