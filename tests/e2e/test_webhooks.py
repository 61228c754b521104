"""Webhooks end to end: the suite as processes, a receiver on loopback, kill -9 faults."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import standardwebhooks
import svix

from inlet_devstack import postgres
from inlet_devstack.ports import Ports
from inlet_devstack.stack import Stack, running
from inlet_notifier import app as notifier_app
from inlet_notifier.secrets_at_rest import KeyRing
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from inlet_store.tokens import token_hash
from tests.messages import bearer_header, number_in
from tests.polling import until
from tests.ports import fixed_port
from tests.webhook_receiver import Answer, Receiver, receiving

pytestmark = pytest.mark.e2e

FAST_ENV = {
    "INLET_WEBHOOK_ALLOW_PRIVATE": "true",
    "INLET_WEBHOOK_RETRY_SCALE": "0.01",
    "INLET_WEBHOOK_POLL_SECONDS": "0.05",
    "INLET_WEBHOOK_TIMEOUT_SECONDS": "1",
    "INLET_WEBHOOK_LEASE_SECONDS": "2",
}


@pytest.fixture(scope="module")
async def own_url(server_url: str) -> AsyncIterator[str]:
    """A database of its own: these tests kill and restart the store and notifier."""
    url = postgres.create_database(server_url, "inlet_e2e_webhooks")
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="module")
async def suite(own_url: str) -> AsyncIterator[Stack]:
    # Fixed store and notifier ports: restarted processes come back where others call them
    # (below the ephemeral range, so nothing started on port 0 takes them meanwhile).
    ports = Ports(gateway=0, matcher=0, store=fixed_port(), notifier=fixed_port())
    logs = Path(tempfile.mkdtemp(prefix="inlet-e2e-webhooks-"))
    async with running(own_url, ports=ports, log_dir=logs, extra_env=FAST_ENV) as stack:
        yield stack


@pytest.fixture(scope="module")
async def webhooks(own_url: str, suite: Stack) -> AsyncIterator[Webhooks]:
    pool = await notifier_app.open_pool(own_url, max_size=4)
    # The stack's notifier processes must open what this one seals: the same key ring.
    yield Webhooks(pool, keys=KeyRing.parse(suite.webhook_secret_keys), allow_private=True)
    await pool.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


@pytest.fixture
def target(own_url: str, suite: Stack) -> dict[str, str]:
    """A workspace with a contact type and an ingest endpoint token (seeded in SQL)."""
    token = f"iep_{secrets.token_urlsafe(32)}"
    with psycopg.connect(own_url, autocommit=True) as conn, conn.transaction():
        workspace = str(
            conn.execute(
                "INSERT INTO workspaces (slug, display_name) VALUES (%s, 'w') RETURNING id",
                (f"w{secrets.token_hex(6)}",),
            ).fetchone()[0]  # type: ignore[index]
        )
        type_id = str(
            conn.execute(
                "INSERT INTO entity_types (workspace_id, slug, display_name)"
                " VALUES (%s, 'contact', 'Contact') RETURNING id",
                (workspace,),
            ).fetchone()[0]  # type: ignore[index]
        )
        conn.execute(
            "INSERT INTO fields (entity_type_id, slug, display_name, type, is_unique, position)"
            " VALUES (%s, 'email', 'E-mail', 'email', true, 0),"
            " (%s, 'amount', 'Amount', 'number', false, 1)",
            (type_id, type_id),
        )
        conn.execute(
            "INSERT INTO ingest_endpoints (workspace_id, entity_type_id, display_name, token_hash)"
            " VALUES (%s, %s, 'e', %s)",
            (workspace, type_id, token_hash(token)),
        )
    return {"workspace": workspace, "token": token, "type": type_id}


async def push(stack: Stack, token: str, email: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as client:
        answer = await client.post(f"/api/v1/ingest/{token}", json={"fields": {"email": email}})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def restart(stack: Stack, name: str, env: dict[str, str]) -> None:
    await stack.start_service(name, int(env["INLET_GRPC_ADDR"].rsplit(":", 1)[1]), "127.0.0.1", env)


def notifier_env(stack: Stack) -> dict[str, str]:
    return {"INLET_DATABASE_URL": stack.database_url, "INLET_GRPC_ADDR": stack.address("notifier")}


def store_env(stack: Stack) -> dict[str, str]:
    return {
        "INLET_DATABASE_URL": stack.database_url,
        "INLET_NOTIFIER_ADDR": stack.address("notifier"),
        "INLET_GRPC_ADDR": stack.address("store"),
    }


async def kill9(stack: Stack, name: str) -> None:
    service = stack.services.pop(name)
    service.process.kill()
    await service.process.wait()


async def test_a_pushed_record_arrives_signed_as_record_created(
    suite: Stack, webhooks: Webhooks, receiver: Receiver, target: dict[str, str]
) -> None:
    url = receiver.script("/created")
    _, secret = await webhooks.create_endpoint(target["workspace"], EndpointSpec(url=url))
    answer = await push(suite, target["token"], "Grace@Example.com")
    await until(lambda: len(receiver.at("/created")) == 1, what="the webhook")
    got = receiver.at("/created")[0]
    payload = standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    svix.Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "record.created"
    assert payload["data"]["id"] == answer["record"]["id"]
    assert payload["data"]["fields"] == {"email": "grace@example.com"}
    assert got.webhook_id.startswith("msg_")


async def test_webhook_payloads_carry_numbers_exactly_as_sent(
    suite: Stack, webhooks: Webhooks, receiver: Receiver, target: dict[str, str]
) -> None:
    url = receiver.script("/exact")
    await webhooks.create_endpoint(target["workspace"], EndpointSpec(url=url))
    sent = ["9007199254740993", "0.1", "142000", "1e-7", "19.990"]
    async with httpx.AsyncClient(base_url=suite.gateway_url, timeout=10) as client:
        for n, number in enumerate(sent):
            body = f'{{"fields": {{"email": "n{n}@example.com", "amount": {number}}}}}'
            answer = await client.post(
                f"/api/v1/ingest/{target['token']}",
                content=body.encode(),
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 200, answer.text
    await until(lambda: len(receiver.at("/exact")) == len(sent), what="the webhooks")
    by_email = {}
    for got in receiver.at("/exact"):
        # The literal text of the signed body, not a parse of it.
        text = got.body.decode()
        email = re.search(r'"email":\s*"(n[0-9]+)@', text)
        assert email, text
        by_email[email.group(1)] = number_in(text, "amount")
    assert by_email == {f"n{n}": number for n, number in enumerate(sent)}


async def test_kill_9_of_the_notifier_mid_delivery_loses_nothing(
    suite: Stack, webhooks: Webhooks, receiver: Receiver, target: dict[str, str]
) -> None:
    url = receiver.script("/hangs-once", Answer(hang=True))
    await webhooks.create_endpoint(target["workspace"], EndpointSpec(url=url))
    for i in range(5):
        await push(suite, target["token"], f"k{i}@example.com")
    await until(lambda: receiver.open_now.get("/hangs-once", 0) >= 1, what="a delivery in flight")
    in_flight = receiver.at("/hangs-once")[0].webhook_id
    env = notifier_env(suite)
    await kill9(suite, "notifier")
    await restart(suite, "notifier", env)

    def delivered() -> set[str]:
        # Every request after the hung one was answered 200.
        return {r.webhook_id for r in receiver.at("/hangs-once")[1:]}

    await until(lambda: len(delivered()) == 5, within=30, what="every event delivered")
    assert in_flight in delivered()  # redelivered with the same webhook-id


async def test_kill_9_of_the_store_between_commit_and_relay_loses_nothing(
    suite: Stack, webhooks: Webhooks, receiver: Receiver, target: dict[str, str]
) -> None:
    url = receiver.script("/after-crash")
    await webhooks.create_endpoint(target["workspace"], EndpointSpec(url=url))
    notifier, store = notifier_env(suite), store_env(suite)
    # With the notifier gone, committed changes wait in the outbox …
    await kill9(suite, "notifier")
    pushed = [await push(suite, target["token"], f"s{i}@example.com") for i in range(5)]
    with psycopg.connect(suite.database_url) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM outbox_events WHERE workspace_id = %s", (target["workspace"],)
        ).fetchone()
    assert waiting == (5,)
    # … and the store dies before relaying them.
    await kill9(suite, "store")
    await restart(suite, "notifier", notifier)
    await restart(suite, "store", {**store, "INLET_ADMIN_BOOTSTRAP_TOKEN": suite.bootstrap_token})
    await until(lambda: len(receiver.at("/after-crash")) >= 5, within=30, what="relayed events")
    ids = [r.webhook_id for r in receiver.at("/after-crash")]
    assert len(ids) == len(set(ids)) == 5
    assert {p["record"]["id"] for p in pushed} == {
        json.loads(r.body)["data"]["id"] for r in receiver.at("/after-crash")
    }


async def test_webhook_admin_api_over_http_with_an_admin_token(
    suite: Stack, receiver: Receiver, target: dict[str, str]
) -> None:
    admin_token = f"adm_{secrets.token_urlsafe(32)}"
    with psycopg.connect(suite.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO admin_tokens (workspace_id, token_hash) VALUES (%s, %s)",
            (target["workspace"], token_hash(admin_token)),
        )
    base = f"/admin/v1/workspaces/{target['workspace']}/webhookEndpoints"
    auth = bearer_header(admin_token)
    url = receiver.script("/via-http")
    async with httpx.AsyncClient(base_url=suite.gateway_url, timeout=10) as client:
        refused = await client.post(base, json={"url": url})
        assert refused.status_code == 401
        wrong = await client.post(
            base, json={"url": url}, headers={"authorization": "Bearer adm_nope"}
        )
        assert wrong.status_code == 401
        bad = await client.post(base, json={"url": "ftp://example.com/"}, headers=auth)
        assert bad.status_code == 400
        assert "http or https" in bad.text
        created = await client.post(
            base, json={"url": url, "event_types": ["record.created"]}, headers=auth
        )
        assert created.status_code == 200, created.text
        body = created.json()
        secret = body["secret"]
        name = body["webhook_endpoint"]["name"]
        await push(suite, target["token"], "http@example.com")
        await until(lambda: len(receiver.at("/via-http")) == 1, what="the webhook")
        got = receiver.at("/via-http")[0]
        standardwebhooks.Webhook(secret).verify(got.body, got.headers)

        async def succeeded() -> bool:
            listed = await client.get(f"/admin/v1/{name}/deliveries", headers=auth)
            found = listed.json().get("webhook_deliveries", [])
            return bool(found) and found[0]["status"] == "WEBHOOK_DELIVERY_STATUS_SUCCEEDED"

        await until(succeeded, what="the delivery listed as succeeded")
        listed = await client.get(f"/admin/v1/{name}/deliveries", headers=auth)
        delivery = listed.json()["webhook_deliveries"][0]
        attempts = await client.get(f"/admin/v1/{delivery['name']}/attempts", headers=auth)
        assert [a["status_code"] for a in attempts.json()["webhook_attempts"]] == [200]
        replayed = await client.post(f"/admin/v1/{delivery['name']}:replay", json={}, headers=auth)
        assert replayed.status_code == 200, replayed.text
        await until(lambda: len(receiver.at("/via-http")) == 2, what="the replay")
        assert receiver.at("/via-http")[1].webhook_id == got.webhook_id


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inlet_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_webhooks_cli_subscribes_lists_deliveries_and_replays(
    suite: Stack, own_url: str, target: dict[str, str], receiver: Receiver
) -> None:
    admin_token = f"adm_{secrets.token_urlsafe(32)}"
    with psycopg.connect(own_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO admin_tokens (workspace_id, token_hash) VALUES (%s, %s)",
            (target["workspace"], token_hash(admin_token)),
        )
    env = {
        **os.environ,
        "INLET_NOTIFIER_URL": suite.address("notifier"),
        "INLET_ADMIN_TOKEN": admin_token,
        "INLET_WORKSPACE": target["workspace"],
    }
    refused = run_cli(env, "webhooks", "create", "ftp://127.0.0.1/hook")
    assert refused.returncode == 5, refused
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "url" in refused.stderr.lower()
    wrong = run_cli({**env, "INLET_ADMIN_TOKEN": "adm_nope"}, "webhooks", "list")
    assert wrong.returncode == 4
    assert "adm_nope" not in wrong.stderr

    created = run_cli(env, "--json", "webhooks", "create", receiver.script("/cli"))
    assert created.returncode == 0, created.stderr
    made = json.loads(created.stdout)
    secret = made["secret"]
    endpoint_id = made["webhook_endpoint"]["name"].rsplit("/", 1)[1]
    listed = json.loads(run_cli(env, "--json", "webhooks", "list").stdout)
    assert [e["name"] for e in listed] == [made["webhook_endpoint"]["name"]]

    await push(suite, target["token"], "cli@acme.no")
    await until(lambda: len(receiver.at("/cli")) >= 1, within=30, what="delivery")
    first = receiver.at("/cli")[0]
    assert standardwebhooks.Webhook(secret).verify(first.body, first.headers)["type"] == (
        "record.created"
    )

    shown = json.loads(run_cli(env, "--json", "webhooks", "deliveries", endpoint_id).stdout)
    assert [d["status"] for d in shown] == ["WEBHOOK_DELIVERY_STATUS_SUCCEEDED"]
    delivery_id = shown[0]["name"].rsplit("/", 1)[1]
    tried = json.loads(
        run_cli(env, "--json", "webhooks", "attempts", endpoint_id, delivery_id).stdout
    )
    assert [a["status_code"] for a in tried] == [200]
    replayed = run_cli(env, "webhooks", "replay", endpoint_id, delivery_id)
    assert replayed.returncode == 0, replayed.stderr
    await until(lambda: len(receiver.at("/cli")) >= 2, within=30, what="replay")
    assert receiver.at("/cli")[1].webhook_id == first.webhook_id


# --- changes change only what was asked; a disabled endpoint is sent nothing -----------------


def admin_token_for(stack: Stack, workspace: str) -> str:
    token = f"adm_{secrets.token_urlsafe(32)}"
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO admin_tokens (workspace_id, token_hash) VALUES (%s, %s)",
            (workspace, token_hash(token)),
        )
    return token


async def test_webhook_patch_changes_only_what_was_asked(
    suite: Stack, receiver: Receiver, target: dict[str, str]
) -> None:
    auth = bearer_header(admin_token_for(suite, target["workspace"]))
    base = f"/admin/v1/workspaces/{target['workspace']}/webhookEndpoints"
    async with httpx.AsyncClient(base_url=suite.gateway_url, timeout=10) as client:
        created = await client.post(
            base,
            headers=auth,
            json={
                "url": receiver.script("/old"),
                "description": "crm",
                "event_types": ["record.created"],
                "entity_type_ids": [target["type"]],
            },
        )
        assert created.status_code == 200, created.text
        before = created.json()["webhook_endpoint"]
        name = before["name"]
        unchanged = {k: v for k, v in before.items() if k not in ("url", "update_time")}

        # Only the URL is sent: the endpoint stays enabled and keeps its filters.
        moved = await client.patch(
            f"/admin/v1/{name}", headers=auth, json={"url": receiver.script("/new")}
        )
        assert moved.status_code == 200, moved.text
        after = moved.json()["webhook_endpoint"]
        assert after["url"] == receiver.url + "/new"
        assert {k: v for k, v in after.items() if k not in ("url", "update_time")} == unchanged
        assert after["enabled"] is True
        await push(suite, target["token"], "moved@example.com")
        await until(lambda: len(receiver.at("/new")) == 1, what="delivery to the new URL")
        assert receiver.at("/old") == []

        # A mask in the query: only the named field, whatever else the body says.
        described = await client.patch(
            f"/admin/v1/{name}?update_mask=description",
            headers=auth,
            json={"description": "erp", "url": "ftp://not-checked", "enabled": False},
        )
        assert described.status_code == 200, described.text
        got = described.json()["webhook_endpoint"]
        assert (got["description"], got["url"], got["enabled"]) == ("erp", after["url"], True)

        # An empty list is sent, so it is set: every event type again.
        cleared = await client.patch(f"/admin/v1/{name}", headers=auth, json={"event_types": []})
        assert cleared.status_code == 200, cleared.text
        assert "event_types" not in cleared.json()["webhook_endpoint"]
        assert cleared.json()["webhook_endpoint"]["entity_type_ids"] == [target["type"]]

        for query, path in (("update_mask=colour", "colour"), ("update_mask=url,secret", "secret")):
            bad = await client.patch(f"/admin/v1/{name}?{query}", headers=auth, json={})
            assert bad.status_code == 400, bad.text
            [violation] = bad.json()["errors"]
            assert violation["field"] == "update_mask"
            assert f'"{path}"' in violation["message"]
        shown = await client.get(f"/admin/v1/{name}", headers=auth)
        assert shown.json()["webhook_endpoint"] == cleared.json()["webhook_endpoint"]


async def test_replay_and_recover_of_a_disabled_endpoint_are_refused_and_send_nothing(
    suite: Stack, receiver: Receiver, target: dict[str, str]
) -> None:
    admin_token = admin_token_for(suite, target["workspace"])
    auth = bearer_header(admin_token)
    base = f"/admin/v1/workspaces/{target['workspace']}/webhookEndpoints"
    # The first answer is 410 Gone: the delivery fails and the endpoint is disabled.
    url = receiver.script("/gone", Answer(410), then=Answer(200))
    async with httpx.AsyncClient(base_url=suite.gateway_url, timeout=10) as client:
        created = await client.post(base, headers=auth, json={"url": url})
        name = created.json()["webhook_endpoint"]["name"]
        endpoint_id = name.rsplit("/", 1)[1]
        await push(suite, target["token"], "gone@example.com")

        async def failed() -> list[dict[str, Any]]:
            listed = await client.get(f"/admin/v1/{name}/deliveries", headers=auth)
            found: list[dict[str, Any]] = listed.json().get("webhook_deliveries", [])
            return [d for d in found if d["status"] == "WEBHOOK_DELIVERY_STATUS_FAILED"]

        await until(failed, what="the delivery failed by 410")
        [delivery] = await failed()
        shown = (await client.get(f"/admin/v1/{name}", headers=auth)).json()["webhook_endpoint"]
        assert shown.get("enabled", False) is False
        assert shown["disabled_reason"]
        sent = len(receiver.at("/gone"))
        assert sent == 1

        replayed = await client.post(f"/admin/v1/{delivery['name']}:replay", json={}, headers=auth)
        recovered = await client.post(
            f"/admin/v1/{name}/deliveries:recover",
            json={"since": "2000-01-01T00:00:00Z"},
            headers=auth,
        )
        for refused in (replayed, recovered):
            assert refused.status_code == 400, refused.text
            problem = refused.json()
            assert problem["code"] == "ENDPOINT_DISABLED"
            assert endpoint_id in problem["detail"]
            assert "enable" in problem["detail"]
        # Nothing was queued: the delivery is still failed, not pending.
        assert await failed() == [delivery]

        env = {
            **os.environ,
            "INLET_NOTIFIER_URL": suite.address("notifier"),
            "INLET_ADMIN_TOKEN": admin_token,
            "INLET_WORKSPACE": target["workspace"],
        }
        delivery_id = delivery["name"].rsplit("/", 1)[1]
        for args in (
            ("replay", endpoint_id, delivery_id),
            ("recover", endpoint_id, "--since", "1d"),
        ):
            cli = run_cli(env, "webhooks", *args)
            assert cli.returncode == 5, cli
            assert "disabled" in cli.stderr
            assert f"inlet webhooks enable {endpoint_id}" in cli.stderr

        # Enabled again, it is sent only what comes next, until a recover is asked for.
        enabled = await client.patch(f"/admin/v1/{name}", headers=auth, json={"enabled": True})
        assert enabled.status_code == 200, enabled.text
        await push(suite, target["token"], "next@example.com")
        await until(lambda: len(receiver.at("/gone")) == 2, what="the next event")
        assert receiver.at("/gone")[1].webhook_id != receiver.at("/gone")[0].webhook_id
        recovered = await client.post(
            f"/admin/v1/{name}/deliveries:recover",
            json={"since": "2000-01-01T00:00:00Z"},
            headers=auth,
        )
        assert recovered.json() == {"recovered_count": 1}
        await until(lambda: len(receiver.at("/gone")) == 3, what="the recovered delivery")
        assert receiver.at("/gone")[2].webhook_id == receiver.at("/gone")[0].webhook_id


async def test_webhooks_cli_update_sends_exactly_the_options_given(
    suite: Stack, target: dict[str, str], receiver: Receiver
) -> None:
    env = {
        **os.environ,
        "INLET_NOTIFIER_URL": suite.address("notifier"),
        "INLET_ADMIN_TOKEN": admin_token_for(suite, target["workspace"]),
        "INLET_WORKSPACE": target["workspace"],
    }
    made = run_cli(
        env,
        "--json",
        "webhooks",
        "create",
        receiver.script("/cli-old"),
        "--event",
        "record.created",
        "--description",
        "crm",
    )
    assert made.returncode == 0, made.stderr
    endpoint_id = json.loads(made.stdout)["webhook_endpoint"]["name"].rsplit("/", 1)[1]

    def update(*args: str) -> dict[str, Any]:
        done = run_cli(env, "--json", "webhooks", "update", endpoint_id, *args)
        assert done.returncode == 0, done.stderr
        [shown] = json.loads(done.stdout)
        assert isinstance(shown, dict)
        return shown

    moved = update("--url", receiver.script("/cli-new"))
    assert (moved["url"], moved["event_types"], moved["description"], moved["enabled"]) == (
        receiver.url + "/cli-new",
        ["record.created"],
        "crm",
        True,
    )
    described = update("--description", "erp", "--event", "record.updated")
    assert (described["description"], described["event_types"], described["url"]) == (
        "erp",
        ["record.updated"],
        moved["url"],
    )
    everything = update("--all-events")
    assert "event_types" not in everything
    assert everything["description"] == "erp"

    for args, text in (
        ((), "nothing to change"),
        (("--event", "x", "--all-events"), "--all-events"),
    ):
        done = run_cli(env, "webhooks", "update", endpoint_id, *args)
        assert done.returncode == 2, done
        assert text in done.stderr
