"""The console's integration pages over HTTP through the real stack: integrations (list,
create, detail with its request log, enable/disable), project tokens (create shown once,
rotate, revoke) and client tokens (create, revoke); CSRF refusals and another workspace's
integrations and tokens never shown nor changed."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc, integrations_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests import external_support as ext
from tests.e2e.console_support import page_csrf, secret_of, signed_in, slug_of
from tests.polling import until

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="session")
async def integrations(stack: Stack) -> AsyncIterator[Any]:
    async with channel(stack.address("store")) as ch:
        yield integrations_pb2_grpc.IntegrationAdminServiceStub(ch)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", **JSON}


async def ingest(http: httpx.AsyncClient, secret: str, integration_id: str = "crm") -> int:
    answer = await http.post(
        f"/api/v1/external/data-ingestion/{integration_id}",
        content=b'{"name": "Kari", "email": "kari@acme.no"}',
        headers=bearer(secret),
    )
    return answer.status_code


async def test_integrations_and_their_tokens_are_managed_in_the_console(
    stack: Stack, seeded: DemoSeed, http: httpx.AsyncClient
) -> None:
    async with signed_in(stack.gateway_url, slug_of(seeded), seeded.admin_token) as client:
        listed = await client.get("/console/integrations")
        assert listed.status_code == 200
        assert 'href="/console/integrations"' in listed.text  # the nav link
        assert 'href="/console/push-sessions"' in listed.text
        token = await page_csrf(client, "/console/integrations")
        made = await client.post(
            "/console/integrations",
            data={
                "csrf_token": token,
                "integration_id": "crm",
                "display_name": "CRM sync",
                "type": "GENERIC",
                "entity_type": "contact",
            },
        )
        assert made.status_code == 303, made.text
        assert made.headers["location"] == "/console/integrations/crm?done=created"
        # A refused create says why, keeps the form and writes nothing.
        bad = await client.post(
            "/console/integrations",
            data={
                "csrf_token": token,
                "integration_id": "x2",
                "type": "OTHER",
                "entity_type": "contact",
            },
        )
        assert bad.status_code == 400
        assert 'role="alert"' in bad.text
        assert (await client.get("/console/integrations/x2")).status_code == 404

        first = secret_of(
            await client.post(
                "/console/project-tokens", data={"csrf_token": token, "display_name": "server"}
            )
        )
        assert await ingest(http, first) == 202
        listed = await client.get("/console/integrations")
        assert "CRM sync" in listed.text
        assert "server" in listed.text

        async def logged() -> str | None:
            page = await client.get("/console/integrations/crm")
            assert page.status_code == 200
            return page.text if "data-request-id=" in page.text else None

        detail = await until(logged, what="the request in the integration's log")
        assert "/api/v1/external/data-ingestion/crm" in detail
        assert "GENERIC" in detail
        tokens = detail.split('data-testid="integration-tokens"', 1)[1].split("</table>", 1)[0]
        assert "server" in tokens

        off = await client.post(
            "/console/integrations/crm/state", data={"csrf_token": token, "enabled": "false"}
        )
        assert off.status_code == 303
        assert "disabled" in (await client.get(off.headers["location"])).text
        assert await ingest(http, first) == 403
        on = await client.post(
            "/console/integrations/crm/state", data={"csrf_token": token, "enabled": "true"}
        )
        assert on.status_code == 303
        assert await ingest(http, first) == 202

        token_id = re.search(r'/console/project-tokens/([^/"]+)/rotate', listed.text)
        assert token_id
        rotated = await client.post(
            f"/console/project-tokens/{token_id.group(1)}/rotate",
            data={"csrf_token": token, "grace": ""},
        )
        second = secret_of(rotated)
        assert "stopped working" in rotated.text
        assert await ingest(http, second) == 202
        assert await ingest(http, first) == 401
        bad_grace = await client.post(
            f"/console/project-tokens/{token_id.group(1)}/rotate",
            data={"csrf_token": token, "grace": "soon"},
        )
        assert bad_grace.status_code == 400
        assert "Grace period" in bad_grace.text

        listed = await client.get("/console/integrations")
        new_id = re.search(r'/console/project-tokens/([^/"]+)/revoke', listed.text)
        assert new_id
        revoked = await client.post(
            f"/console/project-tokens/{new_id.group(1)}/revoke", data={"csrf_token": token}
        )
        assert revoked.status_code == 303
        assert await ingest(http, second) == 401
        assert "revoked" in (await client.get("/console/integrations")).text

        form_token = secret_of(
            await client.post(
                "/console/client-tokens",
                data={
                    "csrf_token": token,
                    "display_name": "signup form",
                    "entity_type": "contact",
                    "allowed_origins": "https://form.example",
                },
            )
        )
        assert form_token
        listed = await client.get("/console/integrations")
        assert "https://form.example" in listed.text
        assert "signup form" in listed.text
        bad_origin = await client.post(
            "/console/client-tokens",
            data={"csrf_token": token, "entity_type": "contact", "allowed_origins": "nope"},
        )
        assert bad_origin.status_code == 400
        assert 'role="alert"' in bad_origin.text
        client_id = re.search(r'/console/client-tokens/([^/"]+)/revoke', listed.text)
        assert client_id
        gone = await client.post(
            f"/console/client-tokens/{client_id.group(1)}/revoke", data={"csrf_token": token}
        )
        assert gone.status_code == 303
        listed = await client.get("/console/integrations")
        assert f"/console/client-tokens/{client_id.group(1)}/revoke" not in listed.text


async def test_integration_changes_need_csrf_and_another_workspace_is_never_shown(
    stack: Stack,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    integrations: Any,
    http: httpx.AsyncClient,
) -> None:
    other = await demo.seed(
        admin, bootstrap_token=stack.bootstrap_token, workspace_slug=f"o{secrets.token_hex(6)}"
    )
    await ext.integration(integrations, other, "theirs", "GENERIC", "contact")
    their_token = await ext.project_token(integrations, other, "their-server")
    await ext.integration(integrations, seeded, "ours", "GENERIC", "contact")
    async with signed_in(stack.gateway_url, slug_of(seeded), seeded.admin_token) as client:
        for refused in (
            client.post("/console/integrations/ours/state", data={"enabled": "false"}),
            client.post("/console/project-tokens", data={"csrf_token": "forged"}),
            client.post("/console/client-tokens", data={"entity_type": "contact"}),
        ):
            answer = await refused
            assert answer.status_code == 403
            assert "CSRF" in answer.text
        listed = await client.get("/console/integrations")
        assert "No project tokens yet." in listed.text
        assert "No client tokens yet." in listed.text
        ours = await client.get("/console/integrations/ours")
        assert "enabled" in ours.text
        assert "No project tokens yet" in ours.text
        assert "their-server" not in ours.text

        assert "theirs" not in listed.text
        assert "their-server" not in listed.text
        assert (await client.get("/console/integrations/theirs")).status_code == 404
        token = await page_csrf(client, "/console/integrations")
        for path in (
            "/console/integrations/theirs/state",
            f"/console/project-tokens/{their_token.id}/revoke",
            f"/console/project-tokens/{their_token.id}/rotate",
        ):
            answer = await client.post(path, data={"csrf_token": token, "enabled": "false"})
            assert answer.status_code == 404, path
    assert await ingest(http, their_token.secret, "theirs") == 202
