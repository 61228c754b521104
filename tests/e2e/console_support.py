"""Signing in to the console over HTTP, as a browser does: form, CSRF token, cookie."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from inlet_devstack.demo import DemoSeed

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = re.compile(r'data-testid="secret">([^<]+)<')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no CSRF token on the page"
    return found.group(1)


@asynccontextmanager
async def signed_in(base_url: str, workspace: str, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a console session cookie."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        form = await client.get("/console/sign-in")
        assert form.status_code == 200, form.text
        answer = await client.post(
            "/console/sign-in",
            data={"workspace": workspace, "token": token, "csrf_token": csrf_of(form.text)},
        )
        assert answer.status_code == 303, answer.text
        assert "inlet_console" in client.cookies
        yield client


async def page_csrf(client: httpx.AsyncClient, path: str = "/console/") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def secret_of(page: httpx.Response) -> str:
    """The secret a shown-once page shows."""
    assert page.status_code == 200, page.text
    found = SECRET.search(page.text)
    assert found, "no secret on the page"
    return found.group(1)


def slug_of(seed: DemoSeed) -> str:
    return seed.workspace.split("/", 1)[1]
