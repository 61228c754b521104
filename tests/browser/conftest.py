"""Browser fixtures: the whole stack as processes (webhooks fast, loopback allowed), Debian's
chromium driven by Playwright, a demo workspace, and a place for screenshots."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, ViewportSize, async_playwright

from inlet.admin.v1 import admin_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo, postgres
from inlet_devstack.ports import Ports
from inlet_devstack.stack import Stack, running

CHROMIUM = "/usr/bin/chromium"
# Webhooks: one attempt only (a 500 fails the delivery at once, for replay), polled often.
STACK_ENV = {
    "INLET_WEBHOOK_ALLOW_PRIVATE": "true",
    "INLET_WEBHOOK_RETRY_SCHEDULE": "0",
    "INLET_WEBHOOK_POLL_SECONDS": "0.05",
    "INLET_WEBHOOK_TIMEOUT_SECONDS": "2",
    "INLET_STREAM_POLL_SECONDS": "0.05",
}
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: `make test` installs chromium")
        for item in items:
            if "tests/browser/" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where each page's screenshot goes: $INLET_SCREENSHOT_DIR, else
    .inlet/console-screenshots (replaced on every run)."""
    target = Path(os.environ.get("INLET_SCREENSHOT_DIR", ".inlet/console-screenshots")).resolve()
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    return target


# Module scope: the stack and the browser stop after the browser tests, so their database
# connections are not held while the rest of the suite runs.
@pytest.fixture(scope="module")
async def browser_stack(server_url: str) -> AsyncIterator[Stack]:
    url = postgres.create_database(server_url, "inlet_browser")
    logs = Path(tempfile.mkdtemp(prefix="inlet-browser-logs-"))
    try:
        async with running(url, ports=Ports(0, 0, 0, 0), log_dir=logs, extra_env=STACK_ENV) as s:
            yield s
    finally:
        postgres.drop_database(url)


@dataclass
class Workspace:
    slug: str
    seed: demo.DemoSeed


@pytest.fixture(scope="module")
async def workspaces(browser_stack: Stack) -> tuple[Workspace, Workspace]:
    """Two demo workspaces: the one signed in to, and another that must never show."""
    made = []
    async with channel(browser_stack.address("store")) as ch:
        admin = admin_pb2_grpc.AdminServiceStub(ch)
        for prefix in ("ours", "theirs"):
            slug = f"{prefix}{secrets.token_hex(3)}"
            seed = await demo.seed(
                admin, bootstrap_token=browser_stack.bootstrap_token, workspace_slug=slug
            )
            await demo.ensure_types(admin, seed.auth, seed.workspace, [demo.SALES])
            made.append(Workspace(slug, seed))
    return made[0], made[1]


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[BrowserContext]:
    """Debian's chromium, headless, with a fresh profile; Playwright's own browser download
    is never used."""
    profile = tempfile.mkdtemp(prefix="inlet-chromium-")
    args = [
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
    ]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    async with async_playwright() as driver:
        context = await driver.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=args,
            viewport=DESKTOP,
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            await context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
async def page(chromium: BrowserContext) -> AsyncIterator[Page]:
    """A tab with no session: every test signs in itself."""
    await chromium.clear_cookies()
    tab = await chromium.new_page()
    await tab.set_viewport_size(DESKTOP)
    try:
        yield tab
    finally:
        await tab.close()


@pytest.fixture
async def http(browser_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=browser_stack.gateway_url, timeout=30) as client:
        yield client
