"""Conformance: the same requests through the gateway and through Envoy, on one stack.

Each edge gets its own workspace, seeded alike (endpoint tokens, a stream key, a project
token and integration, a form client token, a push session and API key), so that what one
edge's requests create never changes the other's answers. Every case of
conformance_cases.py is sent through both; status, the headers of the contract and the
body must be the same once ids, timestamps and the workspace's own names are masked. The
activity logs each edge leaves are compared the same way. The result table is written to
$INLET_CONFORMANCE_TABLE (default: conformance.md in the stack's log directory) and shown
with `pytest -s` (`make conformance`).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from inlet.admin.v1 import admin_pb2_grpc, push_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.ports import Ports
from inlet_devstack.stack import Stack, running
from tests import external_support as ext
from tests.e2e.conformance_cases import CASES, Case
from tests.feed_support import Event, Events, fed_stream, read_headers
from tests.push_support import push_session
from tests.stream_support import sales_stream

pytestmark = pytest.mark.e2e

EDGES = ("gateway", "envoy")
# Headers of the contract, compared by value (after masking).
COMPARED_HEADERS = (
    "content-type",
    "allow",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-policy",
    "idempotency-replayed",
    "location",
    "x-client-request-id",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
    "vary",
)
# Compared by presence only: their values count down the seconds.
PRESENT_HEADERS = ("x-request-id", "ratelimit-reset", "retry-after")

_MASKS = (
    # inlet's request ids (the gateway's) and UUIDs (Envoy's request ids, record ids).
    # (Envoy makes UUIDs, the gateway req_…: ids aside, as the contract says.)
    (re.compile(r"req_[a-z2-7]{26}"), "<id>"),
    (
        re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        "<id>",
    ),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"), "<time>"),
    (re.compile(r"\b[0-9a-f]{24}\b"), "<hex-id>"),
    # Seconds left in a rate window (a clock, like a timestamp).
    (re.compile(r"retry after \d+s"), "retry after <n>s"),
    # A credential's public id in a log entry.
    (re.compile(r"\b[0-9a-f]{16}\b"), "<hex-id>"),
)
_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:-\d)?)\}")
# Both edges' body deadline (INLET_GATEWAY_BODY_TIMEOUT_SECONDS; the launcher renders it
# into Envoy's config): short, so the stalled cases answer soon.
BODY_TIMEOUT_SECONDS = 2


@dataclass(frozen=True)
class Seeded:
    """One edge's workspace and credentials, as template values."""

    values: dict[str, str]
    tag: str  # in every value the edge's requests make unique ({u})
    seed: demo.DemoSeed
    stream: str
    integration: str
    session: str


@dataclass
class Outcome:
    status: int
    headers: dict[str, str]
    body: Any
    raw_request_id: str
    body_request_id: str | None


@pytest.fixture(scope="module")
async def edged(database_url: str) -> AsyncIterator[tuple[Stack, Path]]:
    log_dir = Path(tempfile.mkdtemp(prefix="inlet-conformance-"))
    async with running(
        database_url,
        ports=Ports(0, 0, 0, 0, envoy=0),
        log_dir=log_dir,
        extra_env={
            "INLET_GATEWAY_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS),
            # Not the default: Envoy's own answers must follow the setting too.
            "INLET_EXTERNAL_PROBLEM_BASE": "https://errors.example.com/inlet/",
        },
    ) as stack:
        yield stack, log_dir


async def _seed(stack: Stack) -> Seeded:
    tag = secrets.token_hex(4)
    async with channel(stack.address("store")) as ch:
        admin = admin_pb2_grpc.AdminServiceStub(ch)
        made = await demo.seed(
            admin, bootstrap_token=stack.bootstrap_token, workspace_slug=f"c{tag}"
        )
        streams = streams_pb2_grpc.StreamAdminServiceStub(ch)
        fed = await fed_stream(admin, streams, made)
        stream = fed.sales
        # One request an hour: the second is 429 with Retry-After and RateLimit-*.
        limited = await sales_stream(admin, streams, made, rate_limit=1, rate_window_seconds=3600)
        integrations = ext.stub(ch)
        project = await ext.project_token(integrations, made)
        integration = await ext.integration(
            integrations, made, f"i{tag}", "GENERIC", "contact", default_region="NO"
        )
        client = await ext.client_token(integrations, made, default_region="NO")
        session = await push_session(push_pb2_grpc.PushAdminServiceStub(ch), made)
    integration_id = integration.name.rsplit("/", 1)[-1]
    values = {
        "token": made.tokens["contact"],
        "endpoint": made.endpoints["contact"],
        "workspace": made.workspace,
        "key": stream.key,
        "stream": stream.slug,
        "read_key": fed.read_key,
        "limited_key": limited.key,
        "limited_stream": limited.slug,
        "project": project.secret,
        "integration": integration_id,
        "client": client.secret,
        "api_key": session.api_key,
        "session": session.session_id,
        "admin": made.admin_token,
    }
    return Seeded(values, tag, made, stream.name, integration.name, session.session_id)


def _fill(text: str, seeded: Seeded, index: int) -> str:
    def one(found: re.Match[str]) -> str:
        name = found.group(1)
        if name == "u":
            return f"u{index}x{seeded.tag}"
        if name.startswith("u-"):
            return f"u{index - int(name[2:])}x{seeded.tag}"
        return seeded.values.get(name, found.group(0))

    return _PLACEHOLDER.sub(one, text)


def _mask(text: str, seeded: Seeded) -> str:
    for value in sorted(seeded.values.values(), key=len, reverse=True):
        if len(value) >= 6:
            text = text.replace(value, "<own>")
    text = text.replace(seeded.tag, "<tag>")
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def _masked(value: Any, seeded: Seeded) -> Any:
    if isinstance(value, str):
        return _mask(value, seeded)
    if isinstance(value, list):
        return [_masked(v, seeded) for v in value]
    if isinstance(value, dict):
        return {_mask(k, seeded): _masked(v, seeded) for k, v in value.items()}
    return value


def _request_id_in(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("request_id",):
            if isinstance(body.get(key), str):
                return str(body[key])
        for inner in ("error", "data"):
            found = _request_id_in(body.get(inner))
            if found is not None:
                return found
    return None


async def _send(client: httpx.AsyncClient, case: Case, seeded: Seeded, index: int) -> Outcome:
    headers = {k: _fill(v, seeded, index) for k, v in case.headers.items()}
    raw = case.body
    body = _fill(raw, seeded, index).encode() if isinstance(raw, str) else raw
    path = _fill(case.path, seeded, index)
    if case.stalled or case.raw:
        assert body is not None
        answer = await _raw(client, case.method, path, headers, body, stalled=case.stalled)
    else:
        content: bytes | AsyncIterator[bytes] | None = body
        if case.chunked and body is not None:
            content = _chunks(body)
        answer = await client.request(case.method, path, headers=headers, content=content)
    try:
        parsed: Any = orjson.loads(answer.content) if answer.content else None
    except orjson.JSONDecodeError:
        parsed = answer.text
    kept = {
        name: _mask(answer.headers[name], seeded)
        for name in COMPARED_HEADERS
        if name in answer.headers
    }
    for name in PRESENT_HEADERS:
        if name in answer.headers:
            kept[name] = "<present>"
    return Outcome(
        answer.status_code,
        kept,
        _masked(parsed, seeded),
        answer.headers.get("x-request-id", ""),
        _request_id_in(parsed),
    )


async def _raw(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    *,
    stalled: bool,
) -> httpx.Response:
    """A request over its own connection. Stalled: its body stops short of its
    Content-Length, so the answer comes at the edge's body deadline. Else sent as curl
    sends a large body, `Expect: 100-continue`: the body follows a 100 only, so an edge
    that refuses it unread answers at once and nothing is left in flight."""
    url = urlsplit(str(client.base_url))
    assert url.hostname is not None
    assert url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = [f"{method} {path} HTTP/1.1", f"host: {url.netloc}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append(f"content-length: {len(body) + 100 if stalled else len(body)}")
    if not stalled:
        head.append("expect: 100-continue")
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (body if stalled else b""))
        await writer.drain()
        while True:
            status, answered = await asyncio.wait_for(
                _response_head(reader), timeout=BODY_TIMEOUT_SECONDS + 30
            )
            if status != 100:
                break
            writer.write(body)
            await writer.drain()
        length = next((int(v) for k, v in answered if k.lower() == "content-length"), None)
        content = await (reader.readexactly(length) if length is not None else reader.read())
    finally:
        writer.close()
    return httpx.Response(status, headers=answered, content=content)


async def _response_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[str, str]]]:
    raw_head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = raw_head.partition(b"\r\n")
    answered = [
        (name.strip(), value.strip())
        for name, _, value in (
            line.decode("latin-1").partition(":")
            for line in header_block.split(b"\r\n")
            if b":" in line
        )
    ]
    return int(status_line.split()[1]), answered


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 65_536):
        yield body[start : start + 65_536]


def _differences(a: Outcome, b: Outcome) -> list[str]:
    found: list[str] = []
    if a.status != b.status:
        found.append(f"status {a.status} != {b.status}")
    for name in sorted(set(a.headers) | set(b.headers)):
        if a.headers.get(name) != b.headers.get(name):
            found.append(f"{name}: {a.headers.get(name)!r} != {b.headers.get(name)!r}")
    if a.body != b.body:
        found.append(f"body {a.body!r} != {b.body!r}")
    return found


def _table(rows: list[tuple[str, int | str, int | str, str]]) -> str:
    lines = [
        "| case | gateway | envoy | result |",
        "|---|---|---|---|",
        *(f"| {name} | {g} | {e} | {result} |" for name, g, e, result in rows),
    ]
    return "\n".join(lines) + "\n"


async def _activity(
    client: httpx.AsyncClient, seeded: Seeded, excepted: set[str]
) -> dict[str, Any]:
    """What the edge's requests left in each dialect's log, masked; without the entries of
    documented exceptions (`excepted`: their request ids)."""
    auth = {"authorization": f"Bearer {seeded.values['admin']}"}
    logs: dict[str, Any] = {}
    for label, path in (
        ("endpoint push", f"/admin/v1/{seeded.values['endpoint']}/activityEntries"),
        ("stream ingest", f"/admin/v1/{seeded.stream}/connectorLogEntries"),
        ("integration ingest", f"/admin/v1/{seeded.integration}/activityEntries"),
        (
            "push transfer",
            f"/admin/v1/{seeded.seed.workspace}/sessions/{seeded.session}/logEntries",
        ),
    ):
        got = await client.get(path, params={"page_size": 100}, headers=auth)
        assert got.status_code == 200, (label, got.text)
        listed = {
            key: [e for e in entries if e.get("request_id") not in excepted]
            for key, entries in got.json().items()
            if isinstance(entries, list)
        }
        logs[label] = _masked(_without_times(listed), seeded)
    return logs


# When it was, and its place in the log's sequence (both workspaces share one).
_VOLATILE = {"create_time", "id"}


def _without_times(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in _VOLATILE}
    return value


def _write(table: str, log_dir: Path) -> Path:
    target = Path(os.environ.get("INLET_CONFORMANCE_TABLE") or log_dir / "conformance.md")
    target.write_text(table)
    sys.stdout.write("\n" + table)
    return target


async def test_both_edges_answer_alike(edged: tuple[Stack, Path]) -> None:
    stack, log_dir = edged
    assert stack.envoy_url is not None
    urls: Mapping[str, str] = {"gateway": stack.gateway_url, "envoy": stack.envoy_url}
    seeded = {edge: await _seed(stack) for edge in EDGES}
    rows: list[tuple[str, int | str, int | str, str]] = []
    failures: list[str] = []
    excepted: dict[str, set[str]] = {edge: set() for edge in EDGES}
    async with (
        httpx.AsyncClient(base_url=urls["gateway"], timeout=30) as gateway,
        httpx.AsyncClient(base_url=urls["envoy"], timeout=30) as envoy,
    ):
        clients = {"gateway": gateway, "envoy": envoy}
        for index, case in enumerate(CASES):
            got = {edge: await _send(clients[edge], case, seeded[edge], index) for edge in EDGES}
            for edge, outcome in got.items():
                # One request id per answer, the body's (when it shows one) the header's.
                assert outcome.raw_request_id, (case.name, edge)
                missing = [h for h in case.expect if h not in outcome.headers]
                assert not missing, (case.name, edge, missing)
                # (A replay answers the first request's, as the stored answer has it.)
                replayed = "idempotency-replayed" in outcome.headers
                if outcome.body_request_id is not None and not replayed:
                    assert outcome.body_request_id == outcome.raw_request_id, (case.name, edge)
            differs = _differences(got["gateway"], got["envoy"])
            if not differs:
                result = "identical"
            elif case.exception:
                result = f"documented exception: {case.exception}"
                for edge in EDGES:
                    excepted[edge].add(got[edge].raw_request_id)
            else:
                result = "DIFFERENT: " + "; ".join(differs)
                failures.append(f"{case.name}: {'; '.join(differs)}")
            rows.append((case.name, got["gateway"].status, got["envoy"].status, result))
        logs = {edge: await _activity(gateway, seeded[edge], excepted[edge]) for edge in EDGES}
    for label in logs["gateway"]:
        same = logs["gateway"][label] == logs["envoy"][label]
        if not same:
            failures.append(
                f"activity log of {label}: {logs['gateway'][label]!r} != {logs['envoy'][label]!r}"
            )
        rows.append(
            (
                f"activity log: {label}",
                "-",
                "-",
                "identical" if same else "DIFFERENT (see failures)",
            )
        )
    _write(_table(rows), log_dir)
    assert not failures, "\n".join(failures)


# --- the live feed ------------------------------------------------------------------------

FEED_HEADERS = ("content-type", "cache-control", "x-accel-buffering", "x-content-type-options")


async def _events(
    client: httpx.AsyncClient, seeded: Seeded, count: int, **headers: str
) -> tuple[int, dict[str, str], list[Event]]:
    """The feed's answer: status, its headers, its first heartbeat and `count` changes."""
    path = f"/api/streams/{seeded.values['stream']}/feed"
    sent = read_headers(seeded.values["read_key"], **headers)
    async with client.stream("GET", path, headers=sent) as answer:
        kept = {name: answer.headers[name] for name in FEED_HEADERS if name in answer.headers}
        assert answer.status_code == 200, await answer.aread()
        events = Events(answer)
        first = await events.next()
        assert first is not None
        return answer.status_code, kept, [first, *await events.changes(count)]


def _masked_events(events: list[Event], seeded: Seeded) -> list[Any]:
    return [
        (e.event, e.id, e.comment, _masked(e.json(), seeded) if e.data else None) for e in events
    ]


async def test_the_feed_streams_alike_and_resumes_by_last_event_id(
    edged: tuple[Stack, Path],
) -> None:
    """The live feed through both edges: the same events with their `id:` lines, and a
    resume with Last-Event-ID through each gets exactly the changes after it."""
    stack, _ = edged
    assert stack.envoy_url is not None
    urls = {"gateway": stack.gateway_url, "envoy": stack.envoy_url}
    seen: dict[str, Any] = {}
    for edge in EDGES:
        seeded = await _seed(stack)
        async with httpx.AsyncClient(base_url=urls[edge], timeout=30) as client:
            items = [{"region": f"r{n}", "revenue": n + 0.5} for n in range(3)]
            key = {"authorization": f"Bearer {seeded.values['key']}", "x-item-key": "region"}
            # Subscribed at the head (its heartbeat read), then the changes as they apply.
            path = f"/api/streams/{seeded.values['stream']}/feed"
            sent = read_headers(seeded.values["read_key"])
            async with client.stream("GET", path, headers=sent) as answer:
                assert answer.status_code == 200, await answer.aread()
                kept = {n: answer.headers[n] for n in FEED_HEADERS if n in answer.headers}
                events = Events(answer)
                first = await events.next()
                assert first is not None
                pushed = await client.post("/api/ingest", json=items, headers=key)
                assert pushed.status_code == 202, pushed.text
                live = [first, *await events.changes(3)]
            assert all(e.id for e in live[1:]), live
            # A reconnecting EventSource sends the last id it got: exactly the rest follow.
            status, resumed_headers, resumed = await _events(
                client, seeded, 2, **{"Last-Event-ID": str(live[1].id)}
            )
            assert [e.id for e in resumed[1:]] == [e.id for e in live[2:]]
            seen[edge] = (
                kept,
                _masked_events(live, seeded),
                status,
                resumed_headers,
                _masked_events(resumed, seeded),
            )
    assert seen["gateway"] == seen["envoy"]
