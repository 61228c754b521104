"""`inlet import`'s retries: one Idempotency-Key per row, 429 waited out per Retry-After."""

from __future__ import annotations

import httpx

from inlet_cli.importer import Row, push_all, retry_after

URL = "http://inlet.invalid/api/v1/ingest/tok"


def rows(count: int) -> list[Row]:
    return [Row(n, {}, {"fields": {"email": f"r{n}@acme.no"}}) for n in range(1, count + 1)]


async def test_rate_limited_rows_wait_and_then_land_with_the_same_key() -> None:
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        key = request.headers["idempotency-key"]
        seen.append((key, request.content.decode()))
        if sum(k == key for k, _ in seen) <= 5:  # more 429s than there are attempts
            return httpx.Response(429, headers={"retry-after": "0"}, json={"code": "RATE_LIMITED"})
        return httpx.Response(200, json={"record": {"id": "r", "action": "created"}})

    summary = await push_all(
        URL, rows(2), concurrency=1, on_done=lambda: None, transport=httpx.MockTransport(answer)
    )
    assert (summary.created, summary.updated, summary.failed) == (2, 0, [])
    keys = [k for k, _ in seen]
    assert len(seen) == 12
    assert len(set(keys)) == 2
    assert all(k.startswith("import-") and k.endswith(("-1", "-2")) for k in keys)


async def test_server_errors_give_up_after_four_attempts() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, json={"code": "UNAVAILABLE", "detail": "store down"})

    summary = await push_all(
        URL, rows(1), concurrency=1, on_done=lambda: None, transport=httpx.MockTransport(answer)
    )
    assert calls == 4
    assert [problem for _, problem in summary.failed] == ["UNAVAILABLE: store down"]


def test_retry_after_is_read_in_seconds_and_bounded() -> None:
    def limited(value: str | None) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": value} if value else {})

    assert retry_after(limited("3"), 0.2) == 3.0
    assert retry_after(limited("86400"), 0.2) == 60.0
    assert retry_after(limited("soon"), 0.2) == 0.2
    assert retry_after(limited(None), 0.5) == 0.5
