"""Raw-byte fuzzing of every public ingest route over real HTTP through the gateway, with
what a schema-driven fuzzer cannot send: truncated and chunked bodies, bad UTF-8, lone
surrogates, U+0000, deep nesting, huge numbers, duplicate keys and odd headers.

Every answer is inside the served OpenAPI document (a documented status and content type,
never a 5xx), in the dialect's error envelope, and a refused request writes nothing.
INLET_FUZZ_EXAMPLES scales the number of cases (`make fuzz`)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from inlet.admin.v1 import admin_pb2_grpc, push_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.stack import Stack
from inlet_gateway import docs
from tests import external_support as ext
from tests.fuzzing import body_around, fuzz_settings, odd_text
from tests.push_support import push_session
from tests.stream_support import sales_stream

pytestmark = pytest.mark.e2e

DOCUMENT = json.loads(docs.load_document())
PROBLEM = "application/problem+json"

# Header values a client may send; httpx sends text as Latin-1, as HTTP/1.1 allows.
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=utf-16",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/vnd.api+json",
        "",
    ]
)
# (Surrounding blanks are not a header value's: HTTP strips them, h11 refuses to send them.)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300).map(
    str.strip
)
EXTRA_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Idempotency-Key": header_text,
        "X-Item-Key": st.sampled_from(["region", "email", "nope", "", "region,email"]),
        "Content-Encoding": st.sampled_from(["gzip", "br", "identity", "x"]),
        "Accept": st.sampled_from(["*/*", "text/html", "application/xml", ""]),
        "X-Request-Id": header_text,
    },
)


@dataclass(frozen=True)
class Route:
    """One public operation: how to call it, its dialect, and what a refusal must leave."""

    method: str
    path: str  # as sent
    template: str  # as documented (OpenAPI path)
    body: bytes  # a valid body with one `@` where the fuzzed value goes ("" for GET)
    headers: dict[str, str]
    dialect: str  # problem | stream | push
    snapshot: str  # which counts a refusal must leave as they were: sync | async


@dataclass(frozen=True)
class Fixture:
    stack: Stack
    routes: dict[str, Route]
    sync_workspace: str
    async_workspace: str


def documented(route: Route, status: int) -> str:
    responses = DOCUMENT["paths"][route.template][route.method.lower()]["responses"]
    assert str(status) in responses, f"{route.method} {route.template}: {status} undocumented"
    content = responses[str(status)].get("content") or {}
    return next(iter(content), "")


def check_envelope(route: Route, answer: httpx.Response) -> None:
    body = answer.json()
    assert isinstance(body, dict), answer.text
    if route.dialect == "stream":
        assert body["success"] is False
        assert isinstance(body["error"]["code"], str)
        assert body["error"]["message"]
    elif route.dialect == "push":
        assert body["success"] is False
        assert isinstance(body["code"], str)
        assert isinstance(body["message"], str)
    else:
        assert body["status"] == answer.status_code
        assert isinstance(body["code"], str)
        assert body["type"].startswith("http")


def counts(url: str, fixture: Fixture, which: str) -> tuple[int, ...]:
    """What a refused request must not change: records of the synchronous dialects'
    workspace, or the requests and transfers the asynchronous ones accepted."""
    if which == "sync":
        sql = (
            "SELECT (SELECT count(*) FROM records r JOIN entity_types t"
            "         ON t.id = r.entity_type_id WHERE t.workspace_id = %(w)s),"
            "       (SELECT count(*) FROM record_keys WHERE workspace_id = %(w)s)"
        )
        params = {"w": fixture.sync_workspace}
    else:
        sql = (
            "SELECT (SELECT count(*) FROM stream_requests r"
            "         LEFT JOIN streams s ON s.id = r.stream_id"
            "         LEFT JOIN integrations i ON i.id = r.integration_id"
            "        WHERE coalesce(s.workspace_id, i.workspace_id) = %(w)s),"
            "       (SELECT count(*) FROM push_transfers WHERE workspace_id = %(w)s)"
        )
        params = {"w": fixture.async_workspace}
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return tuple(int(n) for n in row)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def send(
    client: httpx.Client,
    fixture: Fixture,
    route: Route,
    body: bytes,
    headers: dict[str, str],
    chunk: int,
) -> None:
    before = counts(fixture.stack.database_url, fixture, route.snapshot)
    content: Any = None
    if route.method != "GET":
        # chunk 0: one body with a Content-Length; otherwise Transfer-Encoding: chunked.
        content = body if chunk == 0 else chunks(body, chunk)
    answer = client.request(
        route.method, route.path, content=content, headers={**route.headers, **headers}
    )
    where = f"{route.method} {route.path} {body[:300]!r} {headers}: {answer.status_code}"
    assert answer.status_code < 500, f"{where} {answer.text[:2000]}"
    kind = documented(route, answer.status_code)
    assert answer.headers.get("content-type", "").startswith(kind), where
    if answer.status_code >= 400:
        check_envelope(route, answer)
        after = counts(fixture.stack.database_url, fixture, route.snapshot)
        assert after == before, f"{where}: a refused request wrote {before} -> {after}"


def run_route(fixture: Fixture, name: str) -> None:
    route = fixture.routes[name]
    bodies = body_around(route.body) if route.body else st.just(b"")
    client = httpx.Client(base_url=fixture.stack.gateway_url, timeout=30)

    @fuzz_settings()
    @given(
        body=bodies,
        content_type=CONTENT_TYPES,
        extra=EXTRA_HEADERS,
        chunk=st.sampled_from([0, 0, 1, 7, 4096]),
    )
    def fuzz(body: bytes, content_type: str, extra: dict[str, str], chunk: int) -> None:
        headers = {**extra}
        if route.method != "GET":
            headers["Content-Type"] = content_type
        send(client, fixture, route, body, headers, chunk)

    with client:
        fuzz()


@pytest.fixture(scope="module")
async def fixture(stack: Stack) -> Fixture:
    async with channel(stack.address("store")) as ch:
        admin = admin_pb2_grpc.AdminServiceStub(ch)
        sync = await demo.seed(
            admin, bootstrap_token=stack.bootstrap_token, workspace_slug=f"fz{secrets.token_hex(5)}"
        )
        late = await demo.seed(
            admin, bootstrap_token=stack.bootstrap_token, workspace_slug=f"fa{secrets.token_hex(5)}"
        )
        integrations = ext.stub(ch)
        await ext.integration(integrations, late, "crm", "GENERIC", "contact")
        token = await ext.project_token(integrations, late)
        form = await ext.client_token(integrations, sync)
        stream = await sales_stream(admin, streams_pb2_grpc.StreamAdminServiceStub(ch), late)

        session = await push_session(push_pb2_grpc.PushAdminServiceStub(ch), late)
    workspace = {}
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        for seed in (sync, late):
            slug = seed.workspace.removeprefix("workspaces/")
            row = conn.execute(
                "SELECT id::text FROM workspaces WHERE slug = %s OR id::text = %s", (slug, slug)
            ).fetchone()
            assert row is not None
            workspace[seed.workspace] = row[0]
    key = {"Authorization": f"Bearer {stream.key}"}
    routes = {
        "push": Route(
            "POST",
            f"/api/v1/ingest/{sync.tokens['contact']}",
            "/api/v1/ingest/{token}",
            b'{"fields": {"email": "f@acme.no", "phone": @}}',
            {},
            "problem",
            "sync",
        ),
        "push-related": Route(
            "POST",
            f"/api/v1/ingest/{sync.tokens['deal']}",
            "/api/v1/ingest/{token}",
            b'{"fields": {"title": "t", "value": 1}, "related": {"contact": {"name": @}}}',
            {},
            "problem",
            "sync",
        ),
        "form": Route(
            "POST",
            "/api/v1/external/form",
            "/api/v1/external/form",
            b'{"email": "g@acme.no", "name": @, "message": "hi"}',
            {"x-client-token": form.secret, "Origin": ext.ORIGIN},
            "problem",
            "sync",
        ),
        "stream": Route(
            "POST",
            "/api/ingest",
            "/api/ingest",
            b'[{"region": @, "revenue": 1, "updated_at": "2026-04-06T10:30:00Z"}]',
            key,
            "stream",
            "async",
        ),
        "stream-status": Route(
            "GET",
            "/api/ingest/requests/{id}",
            "/api/ingest/requests/{request_id}",
            b"",
            key,
            "stream",
            "async",
        ),
        "integration": Route(
            "POST",
            "/api/v1/external/data-ingestion/crm",
            "/api/v1/external/data-ingestion/{integration_id}",
            b'[{"email": "h@acme.no", "name": @}]',
            token.headers(),
            "problem",
            "async",
        ),
        "ping": Route(
            "GET",
            "/api/v1/external/ping",
            "/api/v1/external/ping",
            b"",
            token.headers(),
            "problem",
            "async",
        ),
        "transfer": Route(
            "POST",
            "/api/push/transfer",
            "/api/push/transfer",
            b'{"endgrate_type": "crm-contact", "session_id": "'
            + session.session_id.encode()
            + b'", "transfer_data": [{"data": {"first_name": @}}]}',
            session.headers(),
            "push",
            "async",
        ),
    }
    return Fixture(stack, routes, workspace[sync.workspace], workspace[late.workspace])


BODY_ROUTES = ["push", "push-related", "form", "stream", "integration", "transfer"]


@pytest.mark.parametrize("name", BODY_ROUTES)
async def test_fuzzed_bodies_and_headers_stay_inside_the_contract(
    fixture: Fixture, name: str
) -> None:
    # Hypothesis drives a blocking client in a thread; the stack runs as processes.
    await asyncio.to_thread(run_route, fixture, name)


def run_paths(fixture: Fixture, send_one: Callable[[httpx.Client, str], None]) -> None:
    client = httpx.Client(base_url=fixture.stack.gateway_url, timeout=30)

    @fuzz_settings()
    @given(part=odd_text)
    def fuzz(part: str) -> None:
        send_one(client, part)

    with client:
        fuzz()


async def test_fuzzed_ids_in_paths_and_queries_stay_inside_the_contract(fixture: Fixture) -> None:
    status = fixture.routes["stream-status"]
    transfer = fixture.routes["transfer"]

    def send_one(client: httpx.Client, part: str) -> None:
        # "." and ".." are dot segments: every client removes them (RFC 3986), so they
        # name another path, not an id.
        quoted = urllib.parse.quote(part, safe="") if part.strip(".") else "x"
        for route, path, params in (
            (status, f"/api/ingest/requests/{quoted}", None),
            (
                Route(
                    "GET",
                    "",
                    "/api/v1/external/data-ingestion/requests/{request_id}",
                    b"",
                    fixture.routes["integration"].headers,
                    "problem",
                    "async",
                ),
                f"/api/v1/external/data-ingestion/requests/{quoted}",
                None,
            ),
            (
                Route("GET", "", "/api/push/data", b"", transfer.headers, "push", "async"),
                "/api/push/data",
                {"transfer_id": part},
            ),
        ):
            answer = client.get(path, params=params, headers=route.headers)
            where = f"GET {path} {params}: {answer.status_code}"
            assert answer.status_code < 500, f"{where} {answer.text[:2000]}"
            assert re.match(r"[24]\d\d$", str(answer.status_code)), where
            kind = documented(route, answer.status_code)
            assert answer.headers["content-type"].startswith(kind), f"{where} {answer.text}"
            if answer.status_code >= 400:
                check_envelope(route, answer)

    await asyncio.to_thread(run_paths, fixture, send_one)
