"""The console over HTTP through the real stack: sign-in and its cookie, security headers,
every page, CSRF refusals (nothing changes), another workspace never shown, no token in a
URL or a log, sign-out."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_devstack import demo
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests.e2e.console_support import csrf_of, page_csrf, signed_in

pytestmark = pytest.mark.e2e


def slug_of(seed: DemoSeed) -> str:
    return seed.workspace.split("/", 1)[1]


def endpoint_id(seed: DemoSeed, slug: str = "contact") -> str:
    return seed.endpoints[slug].rsplit("/", 1)[1]


def assert_console_headers(answer: httpx.Response) -> None:
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe" not in policy
    assert answer.headers["x-frame-options"] == "DENY"


async def test_sign_in_exchanges_the_token_for_a_sealed_strict_cookie(
    stack: Stack, seeded: DemoSeed
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        first = await client.get("/console/")
        assert first.status_code == 303
        assert first.headers["location"] == "/console/sign-in"
        assert_console_headers(first)
        form = await client.get("/console/sign-in")
        assert form.status_code == 200
        assert_console_headers(form)
        signin_cookie = form.headers["set-cookie"]
        assert "HttpOnly" in signin_cookie
        assert "SameSite=Strict" in signin_cookie
        # A wrong token: refused, no session.
        wrong = await client.post(
            "/console/sign-in",
            data={
                "workspace": slug_of(seeded),
                "token": "adm_not-a-real-token",
                "csrf_token": csrf_of(form.text),
            },
        )
        assert wrong.status_code == 401
        assert "not valid" in wrong.text
        assert "inlet_console" not in client.cookies
        # The right one, with next= pointing inside the console.
        good = await client.post(
            "/console/sign-in",
            data={
                "workspace": slug_of(seeded),
                "token": seeded.admin_token,
                "csrf_token": csrf_of(wrong.text),
                "next": "/console/endpoints",
            },
        )
        assert good.status_code == 303, good.text
        assert good.headers["location"] == "/console/endpoints"
        cookies = good.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("inlet_console="))
        for attribute in ("HttpOnly", "SameSite=Strict", "Path=/console"):
            assert attribute in session
        assert "Secure" not in session  # plain HTTP here; over TLS it is Secure
        assert seeded.admin_token not in session
        assert seeded.admin_token.removeprefix("adm_")[:16] not in session
        overview = await client.get("/console/")
        assert overview.status_code == 200
        assert "Endpoint push" in overview.text
        assert "Stream ingest" in overview.text
        assert_console_headers(overview)


async def test_sign_in_refuses_an_open_redirect_and_a_missing_csrf_cookie(
    stack: Stack, seeded: DemoSeed
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        form = await client.get("/console/sign-in")
        answer = await client.post(
            "/console/sign-in",
            data={
                "workspace": slug_of(seeded),
                "token": seeded.admin_token,
                "csrf_token": csrf_of(form.text),
                "next": "//evil.example/console/",
            },
        )
        assert answer.headers["location"] == "/console/"
    # A sign-in posted from another page (no sign-in cookie): refused, no session made.
    async with httpx.AsyncClient(base_url=stack.gateway_url) as bare:
        forged = await bare.post(
            "/console/sign-in",
            data={"workspace": slug_of(seeded), "token": seeded.admin_token, "csrf_token": "x"},
        )
        assert forged.status_code == 403
        assert "inlet_console" not in bare.cookies


async def test_every_page_renders(stack: Stack, seeded: DemoSeed, http: httpx.AsyncClient) -> None:
    pushed = await http.post(
        f"/api/v1/ingest/{seeded.tokens['contact']}",
        json={"fields": {"name": "Ola", "email": "ola@acme.no", "score": 1}},
    )
    assert pushed.status_code == 400  # an error entry too: score is no field of contact
    pushed = await http.post(
        f"/api/v1/ingest/{seeded.tokens['contact']}",
        json={"fields": {"name": "Ola", "email": "ola@acme.no"}},
    )
    record_id = pushed.json()["record"]["id"]
    async with signed_in(stack.gateway_url, slug_of(seeded), seeded.admin_token) as client:
        ep = endpoint_id(seeded)
        for path, expected in [
            ("/console/", "Endpoint push"),
            ("/console/entity-types", "Key rule"),
            ("/console/endpoints", "Demo contact endpoint"),
            (f"/console/endpoints/{ep}", "ola.nordmann@example.com"),
            (f"/console/endpoints/{ep}?errors=on", "UNKNOWN_FIELD"),
            (f"/console/endpoints/{ep}/activity", record_id),
            ("/console/streams", "Create a stream"),
            ("/console/records?type=contact", record_id[:8]),
            (f"/console/records/contact/{record_id}", pushed.headers["x-request-id"]),
            ("/console/webhooks", "Add an endpoint"),
        ]:
            answer = await client.get(path)
            assert answer.status_code == 200, (path, answer.text)
            assert expected in answer.text, path
            assert_console_headers(answer)
        found = await client.get(
            "/console/records", params={"type": "contact", "field": "email", "value": "OLA@acme.no"}
        )
        assert found.status_code == 303
        assert found.headers["location"] == f"/console/records/contact/{record_id}"
        missing = await client.get(
            "/console/records", params={"type": "contact", "field": "email", "value": "x@y.no"}
        )
        assert missing.status_code == 404
        assert "No record found" in missing.text
        bad_filter = await client.get(f"/console/endpoints/{ep}", params={"status": "abc"})
        assert bad_filter.status_code == 200
        assert "Status: a whole number" in bad_filter.text
        assert (await client.get("/console/nowhere")).status_code == 404
        assert (await client.delete("/console/endpoints")).status_code == 405


async def test_changes_without_the_session_csrf_token_are_refused(
    stack: Stack, seeded: DemoSeed, http: httpx.AsyncClient
) -> None:
    ep = endpoint_id(seeded)
    state = f"/console/endpoints/{ep}/state"
    async with signed_in(stack.gateway_url, slug_of(seeded), seeded.admin_token) as client:
        token = await page_csrf(client, f"/console/endpoints/{ep}")
        for refused in (
            client.post(state, data={"enabled": "false"}),
            client.post(state, data={"enabled": "false", "csrf_token": "forged"}),
            client.post(
                state,
                data={"enabled": "false", "csrf_token": token},
                headers={"Origin": "https://evil.example"},
            ),
            client.post(
                state,
                data={"enabled": "false", "csrf_token": token},
                headers={"Sec-Fetch-Site": "cross-site"},
            ),
        ):
            answer = await refused
            assert answer.status_code == 403
            assert "CSRF" in answer.text
        # Nothing changed: the URL still pushes.
        still = await http.post(
            f"/api/v1/ingest/{seeded.tokens['contact']}", json={"fields": {"email": "a@b.no"}}
        )
        assert still.status_code == 200
        # The form's own token (or htmx's header) is accepted.
        done = await client.post(state, data={"enabled": "false"}, headers={"X-CSRF-Token": token})
        assert done.status_code == 303
        gone = await http.post(
            f"/api/v1/ingest/{seeded.tokens['contact']}", json={"fields": {"email": "a@b.no"}}
        )
        assert gone.status_code == 404
        # Another session's token is no good here.
        async with signed_in(stack.gateway_url, slug_of(seeded), seeded.admin_token) as other:
            other_token = await page_csrf(other)
        foreign = await client.post(state, data={"enabled": "true", "csrf_token": other_token})
        assert foreign.status_code == 403


async def test_another_workspace_is_never_shown(
    stack: Stack,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    http: httpx.AsyncClient,
) -> None:
    other = await demo.seed(
        admin, bootstrap_token=stack.bootstrap_token, workspace_slug=f"o{secrets.token_hex(6)}"
    )
    theirs = await http.post(
        f"/api/v1/ingest/{other.tokens['contact']}",
        json={"fields": {"name": "Secret Person", "email": "secret@other.no"}},
    )
    their_record = theirs.json()["record"]["id"]
    async with signed_in(stack.gateway_url, slug_of(seeded), seeded.admin_token) as client:
        for path in (
            f"/console/endpoints/{endpoint_id(other)}",
            f"/console/endpoints/{endpoint_id(other)}/activity",
            f"/console/records/contact/{their_record}",
        ):
            answer = await client.get(path)
            assert answer.status_code == 404, path
            assert "secret@other.no" not in answer.text
        listed = await client.get("/console/records", params={"type": "contact"})
        assert their_record[:8] not in listed.text
        # A change aimed at their endpoint changes nothing.
        token = await page_csrf(client)
        refused = await client.post(
            f"/console/endpoints/{endpoint_id(other)}/state",
            data={"enabled": "false", "csrf_token": token},
        )
        assert refused.status_code == 404
    assert (
        await http.post(f"/api/v1/ingest/{other.tokens['contact']}", json={"fields": {"name": "x"}})
    ).status_code == 200
    # One workspace's token does not open another workspace's console.
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        form = await client.get("/console/sign-in")
        answer = await client.post(
            "/console/sign-in",
            data={
                "workspace": slug_of(other),
                "token": seeded.admin_token,
                "csrf_token": csrf_of(form.text),
            },
        )
        assert answer.status_code == 400
        assert "does not grant" in answer.text
        assert "inlet_console" not in client.cookies


async def test_forged_cookies_sign_out_and_no_token_in_a_url_or_log(
    stack: Stack, seeded: DemoSeed
) -> None:
    async with signed_in(stack.gateway_url, slug_of(seeded), seeded.admin_token) as client:
        sealed = client.cookies["inlet_console"]
        kid, _, blob = sealed.partition(".")
        flipped = blob[:-2] + ("A" if blob[-2] != "A" else "B") + blob[-1]
        async with httpx.AsyncClient(
            base_url=stack.gateway_url, cookies={"inlet_console": f"{kid}.{flipped}"}
        ) as forged:
            answer = await forged.get("/console/endpoints")
            assert answer.status_code == 303
            assert answer.headers["location"] == "/console/sign-in?next=/console/endpoints"
        token = await page_csrf(client)
        out = await client.post("/console/sign-out", data={"csrf_token": token})
        assert out.status_code == 303
        assert "Max-Age=0" in out.headers["set-cookie"]
        assert (await client.get("/console/")).status_code == 303
    log = (stack.log_dir / "gateway.log").read_text() if stack.log_dir else ""
    assert "/console/endpoints/{id}" in log  # route templates are logged, not values
    assert seeded.admin_token not in log
    assert not re.search(r"adm_[A-Za-z0-9_-]{20,}", log)


async def test_static_assets_are_served_by_inlet(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        htmx = await client.get("/console/static/htmx.min.js")
        assert htmx.status_code == 200
        assert htmx.headers["content-type"].startswith("text/javascript")
        assert htmx.headers["x-content-type-options"] == "nosniff"
        assert b"htmx" in htmx.content
        css = await client.get("/console/static/console.css")
        assert css.headers["content-type"].startswith("text/css")
        for bad in ("/console/static/../app.py", "/console/static/nothing.js"):
            assert (await client.get(bad)).status_code == 404


async def test_a_second_sign_in_from_a_stale_form_replaces_the_session(
    stack: Stack, seeded: DemoSeed
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        stale = await client.get("/console/sign-in")
        first = await client.post(
            "/console/sign-in",
            data={
                "workspace": slug_of(seeded),
                "token": seeded.admin_token,
                "csrf_token": csrf_of(stale.text),
            },
        )
        assert first.status_code == 303
        # Signed in, the sign-in page sends to the overview.
        assert (await client.get("/console/sign-in")).headers["location"] == "/console/"
        again = await client.post(
            "/console/sign-in",
            data={"workspace": slug_of(seeded), "token": "adm_wrong", "csrf_token": "x"},
        )
        assert again.status_code == 403  # the stale form's token was for the first sign-in
