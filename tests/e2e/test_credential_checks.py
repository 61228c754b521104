"""Credential checks leak nothing about how close a guess was: a token that shares all but
its last character with a real one, one that extends a real one, and a random one of the
right shape are refused alike (same status, code and message) in every dialect, and the
comparisons are of SHA-256 digests with hmac.compare_digest (or an index lookup by digest)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from inlet_common.channels import channel
from inlet_common.credentials import token_hash
from inlet_devstack import reuse
from inlet_devstack.saved import DemoCredentials
from inlet_devstack.stack import Stack
from inlet_store import external, streams

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def demo(stack: Stack) -> DemoCredentials:
    async with channel(stack.address("store")) as ch:
        ready = await reuse.ensure(
            ch, bootstrap_token=stack.bootstrap_token, saved=DemoCredentials()
        )
    return ready.credentials


def near_misses(real: str) -> dict[str, str]:
    """Guesses of `real`: its last character changed, it extended, and a random one of the
    same shape (same prefix and id part, random secret)."""
    last = "0" if real[-1] != "0" else "1"
    head, _, secret = real.rpartition("_")
    return {
        "valid prefix": real[:-1] + last,
        "extended": real + "0",
        "random": f"{head}_{secrets.token_hex(len(secret) // 2 or 16)}"[: len(real)],
    }


def shape(answer: httpx.Response) -> tuple[int, Any]:
    """An answer without what differs per request (request id, timestamp)."""
    body = answer.json()
    for holder in (body, body.get("error") if isinstance(body, dict) else None):
        if isinstance(holder, dict):
            holder.pop("request_id", None)
            holder.pop("timestamp", None)
    return answer.status_code, body


Send = Callable[[httpx.AsyncClient, str], Any]


async def _ingest(http: httpx.AsyncClient, key: str) -> httpx.Response:
    return await http.post(
        "/api/ingest", json={"region": "N"}, headers={"Authorization": f"Bearer {key}"}
    )


async def _transfer(http: httpx.AsyncClient, key: str) -> httpx.Response:
    return await http.post(
        "/api/push/transfer", json={}, headers={"Authorization": f"Bearer {key}"}
    )


async def _project(http: httpx.AsyncClient, key: str) -> httpx.Response:
    return await http.get("/api/v1/external/ping", headers={"Authorization": f"Bearer {key}"})


async def _endpoint(http: httpx.AsyncClient, key: str) -> httpx.Response:
    return await http.post(f"/api/v1/ingest/{key}", json={"fields": {"name": "Guess"}})


async def _admin(http: httpx.AsyncClient, key: str) -> httpx.Response:
    return await http.get("/admin/v1/workspaces/demo", headers={"Authorization": f"Bearer {key}"})


@pytest.mark.parametrize(
    ("kind", "send", "refused"),
    [
        ("ingest_key", _ingest, 401),
        ("api_key", _transfer, 401),
        ("project_token", _project, 401),
        ("endpoint", _endpoint, 404),
        ("admin_token", _admin, 401),
    ],
)
async def test_near_misses_are_refused_exactly_like_random_guesses(
    http: httpx.AsyncClient, demo: DemoCredentials, kind: str, send: Send, refused: int
) -> None:
    if kind == "endpoint":
        real = demo.endpoints["contact"].secret
    elif kind == "admin_token":
        real = demo.admin_token
    else:
        found = getattr(demo, kind)
        assert found is not None
        real = found.secret
    assert (await send(http, real)).status_code < 400 or kind == "api_key"
    answers = {name: shape(await send(http, guess)) for name, guess in near_misses(real).items()}
    assert {status for status, _ in answers.values()} == {refused}, answers
    assert answers["valid prefix"] == answers["random"] == answers["extended"]


def test_secrets_are_compared_as_digests_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    stored = token_hash("s" * 64)
    assert streams.secret_matches("s" * 64, stored)
    assert not streams.secret_matches("s" * 63 + "t", stored)
    assert not external._secret_matches(None, "s" * 64)  # an unknown id costs the same
    assert len(seen) == 3
    assert all(len(a) == len(b) == 32 for a, b in seen)
