"""The external form over HTTP: a contact form from a web page with its client token creates
or updates a person (matched on e-mail), keeps the fields the type lacks, answers CORS
preflights, checks the Origin, and refuses every bad input naming it, writing nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import integrations_pb2, integrations_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests import external_support as ext
from tests.external_support import ORIGIN, ClientToken, one, record
from tests.polling import until
from tests.windows import steady_window

pytestmark = pytest.mark.e2e

FORM = "/api/v1/external/form"


@pytest.fixture
async def integrations(
    stack: Stack,
) -> AsyncIterator[integrations_pb2_grpc.IntegrationAdminServiceAsyncStub]:
    async with channel(stack.address("store")) as ch:
        yield ext.stub(ch)


@pytest.fixture
async def token(integrations: Any, seeded: DemoSeed) -> ClientToken:
    return await ext.client_token(integrations, seeded, default_region="NO")


def form_headers(token: ClientToken, origin: str | None = ORIGIN, **extra: str) -> dict[str, str]:
    headers = {"x-client-token": token.secret, **extra}
    if origin is not None:
        headers["Origin"] = origin
    return headers


async def contacts(stack: Stack, seeded: DemoSeed) -> int:
    found: int = await one(
        stack.database_url,
        "SELECT count(*) FROM records r JOIN entity_types t ON t.id = r.entity_type_id"
        " WHERE t.slug = 'contact' AND t.workspace_id::text = %s",
        seeded.workspace.rsplit("/", 1)[-1],
    )
    return found


async def form_log(
    http: httpx.AsyncClient, seeded: DemoSeed, token: ClientToken
) -> list[dict[str, Any]]:
    listed = await http.get(
        f"/admin/v1/{token.name}/activityEntries",
        headers={"Authorization": f"Bearer {seeded.admin_token}"},
    )
    assert listed.status_code == 200, listed.text
    entries: list[dict[str, Any]] = listed.json().get("external_activity_entries", [])
    return entries


async def test_preflight_is_answered_with_cors_headers(http: httpx.AsyncClient) -> None:
    got = await http.request(
        "OPTIONS",
        FORM,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-client-token",
        },
    )
    assert got.status_code == 204
    assert got.content == b""
    assert got.headers["access-control-allow-origin"] == ORIGIN
    assert got.headers["access-control-allow-methods"] == "POST, OPTIONS"
    allowed = {h.strip() for h in got.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-client-token"} <= allowed
    assert got.headers["access-control-max-age"] == "600"
    assert got.headers["vary"] == "origin"


async def test_a_form_creates_then_updates_the_person_and_keeps_every_field(
    http: httpx.AsyncClient, stack: Stack, seeded: DemoSeed, token: ClientToken
) -> None:
    submitted = {
        "name": "Kari Nordmann",
        "email": "kari.form@acme.no",
        "phone": "912 34 567",
        "message": "Please call me about the renewal.",
        "utm_source": "newsletter",
    }
    # A webhook event is kept only for an endpoint that takes it.
    subscribed = await http.post(
        f"/admin/v1/{seeded.workspace}/webhookEndpoints",
        json={"url": "https://hooks.example.com/form", "event_types": ["record.created"]},
        headers={"Authorization": f"Bearer {seeded.admin_token}"},
    )
    assert subscribed.status_code == 200, subscribed.text
    created = await http.post(FORM, json=submitted, headers=form_headers(token))
    assert created.status_code == 200, created.text
    assert created.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in created.headers["access-control-expose-headers"]
    result = created.json()["record"]
    assert result["action"] == "created"
    assert await record(stack.database_url, result["id"]) == {
        "name": "Kari Nordmann",
        "email": "kari.form@acme.no",
        "phone": "+4791234567",
    }
    again = await http.post(
        FORM,
        json={"email": "KARI.FORM@acme.no", "name": "Kari N.", "message": "Any news?"},
        headers=form_headers(token),
    )
    assert again.status_code == 200, again.text
    assert again.json()["record"] == {
        "id": result["id"],
        "action": "updated",
        "matched_on": ["email"],
    }
    # The fields the type does not have are kept: in the log and in the webhook event.
    entries = await form_log(http, seeded, token)
    first = next(e for e in entries if e["request_id"] == created.headers["x-request-id"])
    assert first["status"] == "answered"
    assert first["result"]["submission"] == submitted
    data = json.loads(
        await until(
            lambda: one(
                stack.database_url,
                "SELECT data::text FROM webhook_events WHERE type = 'record.created'"
                " AND data->>'request_id' = %s",
                created.headers["x-request-id"],
            )
        )
    )
    assert data["source"]["type"] == "form"
    assert data["source"]["submission"]["utm_source"] == "newsletter"


async def test_a_url_encoded_form_works_and_a_star_token_takes_any_origin(
    http: httpx.AsyncClient, stack: Stack, integrations: Any, seeded: DemoSeed
) -> None:
    anywhere = await ext.client_token(integrations, seeded, origins=("*",))
    got = await http.post(
        FORM,
        content=b"name=Per+Hansen&email=per%40acme.no&newsletter=on",
        headers={
            "x-client-token": anywhere.secret,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert got.status_code == 200, got.text
    assert await record(stack.database_url, got.json()["record"]["id"]) == {
        "name": "Per Hansen",
        "email": "per@acme.no",
    }


async def test_bad_inputs_are_refused_naming_the_field_and_write_nothing(
    http: httpx.AsyncClient,
    stack: Stack,
    integrations: Any,
    seeded: DemoSeed,
    token: ClientToken,
) -> None:
    before = await contacts(stack, seeded)
    cases: list[tuple[dict[str, str], bytes, int, str, str | None, bool]] = [
        # headers, body, status, code, field named, may the page read the answer
        ({"Origin": ORIGIN}, b'{"email": "a@b.no"}', 401, "UNAUTHORIZED", "x-client-token", False),
        (
            {"Origin": ORIGIN, "x-client-token": "pct_0123456789abcdef_wrong"},
            b'{"email": "a@b.no"}',
            401,
            "UNAUTHORIZED",
            None,
            False,
        ),
        (
            form_headers(token, "https://evil.example"),
            b'{"email": "a@b.no"}',
            403,
            "ORIGIN_NOT_ALLOWED",
            "Origin",
            False,
        ),
        (
            form_headers(token, None),
            b'{"email": "a@b.no"}',
            403,
            "ORIGIN_NOT_ALLOWED",
            "Origin",
            False,
        ),
        (form_headers(token), b'{"name": "No Mail"}', 400, "VALIDATION_FAILED", "email", True),
        (form_headers(token), b'{"email": "nope"}', 400, "VALIDATION_FAILED", "email", True),
        (
            form_headers(token),
            b'{"email": "p@b.no", "phone": "call me"}',
            400,
            "VALIDATION_FAILED",
            "phone",
            True,
        ),
        (form_headers(token), b'{"email": ', 400, "MALFORMED_JSON", "body", True),
        (form_headers(token), b"[1, 2]", 400, "INVALID_BODY", "body", True),
        (form_headers(token), b"", 400, "EMPTY_BODY", "body", True),
        (
            form_headers(token, **{"Content-Type": "text/plain"}),
            b"email=a@b.no",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "Content-Type",
            True,
        ),
    ]
    for headers, body, status, code, field, readable in cases:
        got = await http.post(FORM, content=body, headers=headers)
        assert got.status_code == status, (body, got.text)
        problem = got.json()
        assert problem["code"] == code, problem
        assert list(problem)[:6] == ["type", "title", "status", "detail", "code", "timestamp"]
        if field is not None:
            assert [e["field"] for e in problem["errors"]] == [field]
        assert ("access-control-allow-origin" in got.headers) == readable
    too_large = await http.post(
        FORM, content=b'{"message": "' + b"x" * 70000 + b'"}', headers=form_headers(token)
    )
    assert too_large.status_code == 413
    assert too_large.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert await contacts(stack, seeded) == before
    # Every request with the valid token is in its log, whatever its outcome.
    codes = [e["status_code"] for e in await form_log(http, seeded, token)]
    assert codes == [413, 415, 400, 400, 400, 400, 400, 400, 403, 403]


async def test_a_revoked_token_and_the_rate_limit(
    http: httpx.AsyncClient, integrations: Any, seeded: DemoSeed
) -> None:
    limited = await ext.client_token(
        integrations, seeded, rate_limit=1, rate_window_seconds=steady_window()
    )
    first = await http.post(FORM, json={"email": "rl@acme.no"}, headers=form_headers(limited))
    assert first.status_code == 200
    second = await http.post(FORM, json={"email": "rl@acme.no"}, headers=form_headers(limited))
    assert second.status_code == 429
    assert second.json()["code"] == "RATE_LIMITED"
    assert int(second.headers["retry-after"]) >= 1
    assert second.headers["ratelimit-limit"] == "1"
    assert second.headers["access-control-allow-origin"] == ORIGIN
    await integrations.RevokeClientToken(
        integrations_pb2.RevokeClientTokenRequest(name=limited.name), metadata=seeded.auth
    )
    revoked = await http.post(FORM, json={"email": "rl@acme.no"}, headers=form_headers(limited))
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]
