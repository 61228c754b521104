"""The console's push-transfer pages over HTTP through the real stack: sessions (list,
create with its webhook secret shown once, detail with its types' entity types and recent
transfers) and API keys (create shown once, rotate, revoke); CSRF refusals and another
workspace's sessions and keys never shown nor changed."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc, push_pb2, push_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests.e2e.console_support import page_csrf, secret_of, signed_in, slug_of
from tests.polling import until
from tests.push_support import push_session, seed_body

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
async def push_admin(stack: Stack) -> AsyncIterator[Any]:
    async with channel(stack.address("store")) as ch:
        yield push_pb2_grpc.PushAdminServiceStub(ch)


async def transfer(http: httpx.AsyncClient, key: str, session_id: str) -> int:
    answer = await http.post(
        "/api/push/transfer",
        json=seed_body(session_id),
        headers={"Authorization": f"Bearer {key}"},
    )
    return answer.status_code


async def test_push_sessions_and_api_keys_are_managed_in_the_console(
    stack: Stack, seeded: DemoSeed, http: httpx.AsyncClient
) -> None:
    async with signed_in(stack.gateway_url, slug_of(seeded), seeded.admin_token) as client:
        token = await page_csrf(client, "/console/push-sessions")
        made = await client.post(
            "/console/push-sessions",
            data={
                "csrf_token": token,
                "display_name": "HubSpot sync",
                "type_crm-contact": "on",
                "type_crm-company": "on",
            },
        )
        assert secret_of(made).startswith("whsec_")
        found = re.search(r'href="/console/push-sessions/([0-9a-f]{24})"', made.text)
        assert found
        session_id = found.group(1)
        # No type: refused, saying why, nothing made.
        bad = await client.post(
            "/console/push-sessions", data={"csrf_token": token, "display_name": "empty"}
        )
        assert bad.status_code == 400
        assert 'role="alert"' in bad.text
        listed = await client.get("/console/push-sessions")
        assert session_id in listed.text
        assert "HubSpot sync" in listed.text
        assert ">empty<" not in listed.text

        first = secret_of(
            await client.post(
                "/console/api-keys", data={"csrf_token": token, "display_name": "worker"}
            )
        )
        assert await transfer(http, first, session_id) == 200

        async def logged() -> str | None:
            page = await client.get(f"/console/push-sessions/{session_id}")
            assert page.status_code == 200
            return page.text if "data-request-id=" in page.text else None

        detail = await until(logged, what="the transfer in the session's log")
        assert "crm-contact" in detail
        assert "<code>email</code>" in detail  # crm-contact's upsert keys
        signer = re.search(r'href="(/console/webhooks/[^"]+)"', detail)
        assert signer
        assert (await client.get(signer.group(1))).status_code == 200

        listed = await client.get("/console/push-sessions")
        key_id = re.search(r'/console/api-keys/([^/"]+)/rotate', listed.text)
        assert key_id
        rotated = await client.post(
            f"/console/api-keys/{key_id.group(1)}/rotate", data={"csrf_token": token, "grace": ""}
        )
        second = secret_of(rotated)
        assert await transfer(http, second, session_id) == 200
        assert await transfer(http, first, session_id) == 401
        listed = await client.get("/console/push-sessions")
        new_id = re.search(r'/console/api-keys/([^/"]+)/revoke', listed.text)
        assert new_id
        revoked = await client.post(
            f"/console/api-keys/{new_id.group(1)}/revoke", data={"csrf_token": token}
        )
        assert revoked.status_code == 303
        assert await transfer(http, second, session_id) == 401
        assert "revoked" in (await client.get("/console/push-sessions")).text


async def test_push_changes_need_csrf_and_another_workspace_is_never_shown(
    stack: Stack,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    push_admin: Any,
    http: httpx.AsyncClient,
) -> None:
    other = await demo.seed(
        admin, bootstrap_token=stack.bootstrap_token, workspace_slug=f"o{secrets.token_hex(6)}"
    )
    theirs = await push_session(push_admin, other, display_name="Their session")
    their_keys = await push_admin.ListApiKeys(
        push_pb2.ListApiKeysRequest(parent=other.workspace), metadata=other.auth
    )
    their_key_id = their_keys.api_keys[0].name.rsplit("/", 1)[-1]
    async with signed_in(stack.gateway_url, slug_of(seeded), seeded.admin_token) as client:
        for refused in (
            client.post("/console/push-sessions", data={"type_crm-contact": "on"}),
            client.post("/console/api-keys", data={"csrf_token": "forged"}),
            client.post(
                f"/console/api-keys/{their_key_id}/revoke",
                data={},
                headers={"Sec-Fetch-Site": "cross-site"},
            ),
        ):
            answer = await refused
            assert answer.status_code == 403
            assert "CSRF" in answer.text
        listed = await client.get("/console/push-sessions")
        assert "No sessions yet." in listed.text
        assert "No API keys yet." in listed.text
        assert theirs.session_id not in listed.text
        assert "Their session" not in listed.text
        assert (await client.get(f"/console/push-sessions/{theirs.session_id}")).status_code == 404
        token = await page_csrf(client, "/console/push-sessions")
        for path in (
            f"/console/api-keys/{their_key_id}/revoke",
            f"/console/api-keys/{their_key_id}/rotate",
        ):
            answer = await client.post(path, data={"csrf_token": token})
            assert answer.status_code == 404, path
    assert await transfer(http, theirs.api_key, theirs.session_id) == 200


async def test_a_rotation_with_a_grace_period_keeps_the_old_key_until_then(
    stack: Stack, seeded: DemoSeed, push_admin: Any, http: httpx.AsyncClient
) -> None:
    made = await push_session(push_admin, seeded)
    keys = await push_admin.ListApiKeys(
        push_pb2.ListApiKeysRequest(parent=seeded.workspace), metadata=seeded.auth
    )
    key_id = keys.api_keys[0].name.rsplit("/", 1)[-1]
    async with signed_in(stack.gateway_url, slug_of(seeded), seeded.admin_token) as client:
        token = await page_csrf(client, "/console/push-sessions")
        rotated = await client.post(
            f"/console/api-keys/{key_id}/rotate", data={"csrf_token": token, "grace": "1h"}
        )
        new_key = secret_of(rotated)
        assert "API key ak_" in rotated.text
        assert "The old one keeps working until" in rotated.text
        listed = await client.get("/console/push-sessions")
        assert "expires" in listed.text
    assert await transfer(http, made.api_key, made.session_id) == 200
    assert await transfer(http, new_key, made.session_id) == 200
