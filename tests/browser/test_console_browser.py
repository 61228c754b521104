"""The console in a real browser (Debian's chromium) over the real stack: sign in, create an
endpoint and push to its URL, watch the activity log tail, disable and regenerate, a stream
key and its live connector log, records, replaying a failed webhook, a CSRF refusal, another
workspace hidden, a phone's screen, sign out, an integration and its project token, a push
session and its API key. Each page's screenshot is written."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from playwright.async_api import Locator, Page, expect

from inlet_devstack.stack import Stack
from tests.browser.conftest import PHONE, Workspace
from tests.polling import until
from tests.webhook_receiver import Answer, receiving


async def shot(page: Page, screenshots: Path, name: str) -> None:
    await page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


async def sign_in(page: Page, stack: Stack, workspace: Workspace) -> None:
    await page.goto(f"{stack.gateway_url}/console/")
    await expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    await page.get_by_label("Workspace").fill(workspace.slug)
    await page.get_by_label("Admin token").fill(workspace.seed.admin_token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def nav(page: Page, label: str) -> None:
    await page.get_by_role("navigation").get_by_role("link", name=label, exact=True).click()


async def reload_until(page: Page, locator: Locator, text: str, within: float = 20.0) -> None:
    """Reload the page until `locator` shows `text` (pages without a live tail)."""
    deadline = time.monotonic() + within
    while True:
        if await locator.count() and text in await locator.first.inner_text():
            return
        assert time.monotonic() < deadline, f"{text!r} never showed"
        await page.wait_for_timeout(200)
        await page.reload()


def endpoint_id(workspace: Workspace, slug: str = "contact") -> str:
    return workspace.seed.endpoints[slug].rsplit("/", 1)[1]


async def test_endpoint_created_pushed_watched_disabled_and_regenerated(
    page: Page,
    browser_stack: Stack,
    workspaces: tuple[Workspace, Workspace],
    http: httpx.AsyncClient,
    screenshots: Path,
) -> None:
    ours, _ = workspaces
    await page.goto(f"{browser_stack.gateway_url}/console/")
    await shot(page, screenshots, "01-sign-in")
    await sign_in(page, browser_stack, ours)
    await expect(page.get_by_text("Endpoint push")).to_be_visible()
    await shot(page, screenshots, "02-overview")
    await nav(page, "Entity types")
    await expect(page.locator("#type-contact")).to_contain_text("unique")
    await shot(page, screenshots, "03-entity-types")

    await nav(page, "Endpoints")
    await page.get_by_label("Name").fill("Browser form")
    await page.get_by_label("Entity type").select_option("contact")
    await page.get_by_label("Default region (phones)").fill("NO")
    await shot(page, screenshots, "04-endpoints")
    await page.get_by_role("button", name="Create endpoint").click()
    url = await page.get_by_test_id("secret").inner_text()
    assert re.fullmatch(rf"{re.escape(browser_stack.gateway_url)}/api/v1/ingest/iep_\S+", url)
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    await shot(page, screenshots, "05-endpoint-created-url-once")
    await page.get_by_role("link", name="Open the endpoint").click()
    await expect(page.get_by_test_id("example")).to_contain_text("ola.nordmann@example.com")
    assert url not in await page.content()  # shown once: never again
    await shot(page, screenshots, "06-endpoint")

    # A push over HTTP appears in the activity log by itself (the live tail), expandable.
    pushed = await http.post(url, json={"fields": {"name": "Bea", "email": "bea@acme.no"}})
    assert pushed.status_code == 200, pushed.text
    entry = page.locator(f'details[data-request-id="{pushed.headers["x-request-id"]}"]')
    await expect(entry).to_be_visible()
    await entry.locator("summary").click()
    await expect(entry).to_contain_text("created")
    await expect(entry.get_by_role("link", name=pushed.json()["record"]["id"])).to_be_visible()
    await shot(page, screenshots, "07-activity-entry")

    # Disabled: the push is 404, and the log says why.
    await page.get_by_role("button", name="Disable").click()
    await expect(page.get_by_test_id("state")).to_have_text("disabled")
    refused = await http.post(url, json={"fields": {"email": "bea@acme.no"}})
    assert refused.status_code == 404
    denied = page.locator(f'details[data-request-id="{refused.headers["x-request-id"]}"]')
    await expect(denied).to_contain_text("404")
    await expect(denied).to_contain_text("ENDPOINT_DISABLED")
    await shot(page, screenshots, "08-endpoint-disabled")

    # Enabled again and regenerated: the old URL stops, the new one works.
    await page.get_by_role("button", name="Enable").click()
    await expect(page.get_by_test_id("state")).to_have_text("enabled")
    await page.get_by_role("button", name="Regenerate URL").click()
    new_url = await page.get_by_test_id("secret").inner_text()
    assert new_url != url
    await shot(page, screenshots, "09-endpoint-regenerated")
    assert (await http.post(url, json={"fields": {"email": "bea@acme.no"}})).status_code == 404
    assert (await http.post(new_url, json={"fields": {"email": "bea@acme.no"}})).status_code == 200


async def test_stream_key_and_a_pushed_item_appearing_live(
    page: Page,
    browser_stack: Stack,
    workspaces: tuple[Workspace, Workspace],
    http: httpx.AsyncClient,
    screenshots: Path,
) -> None:
    ours, _ = workspaces
    await sign_in(page, browser_stack, ours)
    await nav(page, "Streams")
    await page.get_by_label("Stream id").fill("web-sales")
    await page.get_by_label("Name").fill("Web sales")
    await page.get_by_label("Entity type").select_option("sales")
    await shot(page, screenshots, "10-streams")
    await page.get_by_role("button", name="Create stream").click()
    await expect(page.get_by_text("Stream created.")).to_be_visible()
    await page.get_by_label("Key name").fill("Browser connector")
    await page.get_by_role("button", name="Create ingest key").click()
    key = await page.get_by_test_id("secret").inner_text()
    assert key.startswith("ik_live_")
    await shot(page, screenshots, "11-ingest-key-created")
    await page.get_by_role("link", name="Back to the stream").click()
    await expect(page.get_by_test_id("keys")).to_contain_text("Browser connector")
    # The live items panel follows the stream's feed.
    await expect(page.get_by_test_id("feed-state")).to_have_text("● live")

    answer = await http.post(
        "/api/ingest",
        content=b'{"region": "Browserland", "revenue": 123.450}',
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.text
    entry = page.locator(f'details[data-request-id="{answer.json()["data"]["request_id"]}"]')
    await expect(entry.get_by_test_id("status")).to_have_text("completed")
    # The item itself, its number exactly as sent.
    await expect(page.get_by_test_id("latest-items")).to_contain_text('"revenue":123.450')
    live = page.get_by_test_id("live-feed")
    await expect(live).to_contain_text("Browserland")
    await expect(live).to_contain_text('"revenue":123.450')
    await shot(page, screenshots, "12-stream-connector-log")

    # A read key for a renderer: shown once, listed, revoked.
    await page.get_by_label("Name of the read key").fill("Dashboard")
    await page.get_by_role("button", name="Create read key").click()
    read_key = await page.get_by_test_id("secret").inner_text()
    assert read_key.startswith("rk_")
    await page.get_by_role("link", name="Back to the stream").click()
    read_keys = page.get_by_test_id("read-keys")
    await expect(read_keys).to_contain_text("Dashboard")
    items = await http.get(
        "/api/streams/web-sales/items", headers={"Authorization": f"Bearer {read_key}"}
    )
    assert items.status_code == 200, items.text
    assert items.json()["items"][0]["item_key"] == items.json()["items"][0]["record_id"]
    await read_keys.get_by_role("button", name="Revoke").click()
    await expect(read_keys).to_contain_text("revoked")
    refused = await http.get(
        "/api/streams/web-sales/items", headers={"Authorization": f"Bearer {read_key}"}
    )
    assert refused.status_code == 401


async def test_records_browse_find_and_the_requests_that_wrote_one(
    page: Page,
    browser_stack: Stack,
    workspaces: tuple[Workspace, Workspace],
    http: httpx.AsyncClient,
    screenshots: Path,
) -> None:
    ours, _ = workspaces
    pushed = await http.post(
        f"/api/v1/ingest/{ours.seed.tokens['contact']}",
        json={"fields": {"name": "Finn", "email": "finn@acme.no", "phone": "+47 415 00 000"}},
    )
    assert pushed.status_code == 200
    await sign_in(page, browser_stack, ours)
    await nav(page, "Records")
    await page.get_by_label("Entity type").select_option("contact")
    await page.get_by_role("button", name="Browse").click()
    await expect(page.get_by_test_id("records")).to_contain_text("finn@acme.no")
    await shot(page, screenshots, "13-records")
    await page.get_by_label("Field").select_option("phone")
    await page.get_by_label("Value").fill("41500000")
    await page.get_by_label("Region (phones)").fill("NO")
    await page.get_by_role("button", name="Find").click()
    await expect(page.get_by_test_id("values")).to_contain_text("+4741500000")
    await expect(page.get_by_test_id("record-requests")).to_contain_text(
        pushed.headers["x-request-id"]
    )
    await shot(page, screenshots, "14-record")


async def test_a_failed_webhook_delivery_replayed(
    page: Page,
    browser_stack: Stack,
    workspaces: tuple[Workspace, Workspace],
    http: httpx.AsyncClient,
    screenshots: Path,
) -> None:
    ours, _ = workspaces
    async with receiving() as receiver:
        target = receiver.script("/console-hook", Answer(500), then=Answer(200))
        await sign_in(page, browser_stack, ours)
        await nav(page, "Webhooks")
        await page.get_by_label("URL").fill(target)
        await page.get_by_label("record.created").check()
        await shot(page, screenshots, "15-webhooks")
        await page.get_by_role("button", name="Add endpoint").click()
        assert (await page.get_by_test_id("secret").inner_text()).startswith("whsec_")
        await shot(page, screenshots, "16-webhook-secret-once")
        await page.get_by_role("link", name="Open the webhook endpoint").click()

        pushed = await http.post(
            f"/api/v1/ingest/{ours.seed.tokens['contact']}",
            json={"fields": {"email": "hook@acme.no"}},
        )
        assert pushed.status_code == 200
        await until(lambda: len(receiver.at("/console-hook")) == 1, what="the first attempt")
        delivery = page.get_by_test_id("deliveries").locator("details").first
        await reload_until(page, delivery.get_by_test_id("status"), "failed")
        await delivery.locator("summary").click()
        await expect(delivery.get_by_test_id("attempts")).to_contain_text("500")
        await shot(page, screenshots, "17-webhook-delivery-failed")

        await delivery.get_by_role("button", name="Replay now").click()
        await expect(page.get_by_text("Delivery queued again")).to_be_visible()
        await until(lambda: len(receiver.at("/console-hook")) == 2, what="the replay")
        await reload_until(page, delivery.get_by_test_id("status"), "succeeded")
        await delivery.locator("summary").click()
        await expect(delivery.get_by_test_id("attempts")).to_contain_text("200")
        await shot(page, screenshots, "18-webhook-delivery-replayed")
        first, again = receiver.at("/console-hook")
        assert first.webhook_id == again.webhook_id


async def test_a_change_without_the_csrf_token_is_refused(
    page: Page,
    browser_stack: Stack,
    workspaces: tuple[Workspace, Workspace],
    http: httpx.AsyncClient,
    screenshots: Path,
) -> None:
    ours, _ = workspaces
    await sign_in(page, browser_stack, ours)
    await page.goto(f"{browser_stack.gateway_url}/console/endpoints/{endpoint_id(ours, 'deal')}")
    await page.locator('form[action$="/state"] input[name="csrf_token"]').evaluate(
        "field => { field.value = 'forged'; }"
    )
    await page.get_by_role("button", name="Disable").click()
    await expect(page.get_by_role("heading", name="Refused")).to_be_visible()
    await expect(page.get_by_text("CSRF check failed")).to_be_visible()
    await shot(page, screenshots, "19-csrf-refused")
    deal = await http.post(
        f"/api/v1/ingest/{ours.seed.tokens['deal']}", json={"fields": {"title": "Still on"}}
    )
    assert deal.status_code == 200


async def test_another_workspace_is_never_shown(
    page: Page,
    browser_stack: Stack,
    workspaces: tuple[Workspace, Workspace],
    screenshots: Path,
) -> None:
    ours, theirs = workspaces
    await sign_in(page, browser_stack, ours)
    await page.goto(f"{browser_stack.gateway_url}/console/endpoints/{endpoint_id(theirs)}")
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    await shot(page, screenshots, "20-other-workspace-not-found")
    await nav(page, "Endpoints")
    listed = await page.get_by_test_id("endpoints").inner_text()
    assert endpoint_id(theirs) not in await page.content()
    assert "Demo contact endpoint" in listed


async def test_a_phone_screen_and_sign_out(
    page: Page,
    browser_stack: Stack,
    workspaces: tuple[Workspace, Workspace],
    screenshots: Path,
) -> None:
    ours, _ = workspaces
    await page.set_viewport_size(PHONE)
    await sign_in(page, browser_stack, ours)
    await shot(page, screenshots, "21-phone-overview")
    await page.goto(f"{browser_stack.gateway_url}/console/endpoints/{endpoint_id(ours)}")
    await expect(page.get_by_test_id("example")).to_be_visible()
    # Nothing wider than the screen: the page never scrolls sideways.
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await shot(page, screenshots, "22-phone-endpoint")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("Signed out.")).to_be_visible()
    await shot(page, screenshots, "23-signed-out")
    await page.goto(f"{browser_stack.gateway_url}/console/endpoints")
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?next=/console/endpoints$"))


async def test_an_integration_and_its_tokens(
    page: Page,
    browser_stack: Stack,
    workspaces: tuple[Workspace, Workspace],
    http: httpx.AsyncClient,
    screenshots: Path,
) -> None:
    ours, _ = workspaces
    await sign_in(page, browser_stack, ours)
    await nav(page, "Integrations")
    await page.get_by_label("Project token name").fill("Browser server")
    await page.get_by_role("button", name="Create project token").click()
    token = await page.get_by_test_id("secret").inner_text()
    await page.get_by_role("link", name="Back to integrations").click()
    await expect(page.get_by_test_id("project-tokens")).to_contain_text("Browser server")
    form = page.locator('form[action="/console/integrations"]')
    await form.get_by_label("Integration id").fill("web-contacts")
    await form.get_by_label("Name", exact=True).fill("Web contacts")
    await form.locator('select[name="type"]').select_option("GENERIC")
    await form.locator('select[name="entity_type"]').select_option("contact")
    await shot(page, screenshots, "24-integrations")
    await page.get_by_role("button", name="Create integration").click()
    await expect(page.get_by_text("Integration created.")).to_be_visible()

    answer = await http.post(
        "/api/v1/external/data-ingestion/web-contacts",
        content=b'{"name": "Browser Person", "email": "browser@acme.no"}',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.text
    log = page.get_by_test_id("request-log")
    await reload_until(page, log, answer.headers["x-request-id"])
    await shot(page, screenshots, "25-integration")
    await page.get_by_role("button", name="Disable").click()
    await expect(page.get_by_test_id("state")).to_have_text("disabled")


async def test_a_push_session_and_its_api_key(
    page: Page,
    browser_stack: Stack,
    workspaces: tuple[Workspace, Workspace],
    http: httpx.AsyncClient,
    screenshots: Path,
) -> None:
    ours, _ = workspaces
    await sign_in(page, browser_stack, ours)
    await nav(page, "Push sessions")
    await page.get_by_label("API key name").fill("Browser worker")
    await page.get_by_role("button", name="Create API key").click()
    key = await page.get_by_test_id("secret").inner_text()
    assert key.startswith("ak_")
    await page.get_by_role("link", name="Back to push sessions").click()
    await page.get_by_label("Name", exact=True).fill("Browser sync")
    await shot(page, screenshots, "26-push-sessions")
    await page.get_by_role("button", name="Create session").click()
    assert (await page.get_by_test_id("secret").inner_text()).startswith("whsec_")
    await page.get_by_role("link", name="On to the session").click()
    session_id = page.url.rsplit("/", 1)[-1]
    await expect(page.get_by_test_id("session-types")).to_contain_text("crm-company")

    answer = await http.post(
        "/api/push/transfer",
        json={
            "endgrate_type": "crm-contact",
            "session_id": session_id,
            "transfer_data": [
                {"data": {"first_name": "Browser", "last_name": "Person"}, "internal_id": "B1"}
            ],
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200, answer.text
    await reload_until(page, page.get_by_test_id("transfer-log"), answer.headers["x-request-id"])
    await shot(page, screenshots, "27-push-session")
