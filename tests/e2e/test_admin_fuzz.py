"""Raw-byte fuzzing of every admin and webhook-admin route, the request-status routes and
the health and document routes over real HTTP through the gateway, with a valid admin token
and with bad ones: truncated and chunked bodies, bad UTF-8, U+0000, deep nesting, huge
numbers, duplicate keys, odd headers, bad page tokens and bad resource names.

Every answer is inside the served OpenAPI document (a documented status and content type,
never a 5xx), errors are problem+json, and a refused request changes nothing the admin API
lists. INLET_FUZZ_EXAMPLES scales the number of cases (`make fuzz`)."""

from __future__ import annotations

import asyncio
import itertools
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

from inlet_devstack.stack import Stack
from inlet_gateway import docs
from tests.admin_routes import BOOTSTRAP_ROUTES, ROUTES, AdminRoute
from tests.external_support import request_id_of
from tests.fuzzing import body_around, fuzz_settings, number_text, odd_text

pytestmark = pytest.mark.e2e

DOCUMENT = json.loads(docs.load_document())
PROBLEM = "application/problem+json"
# 400s about the body as a whole (not JSON, not an object), which have no field to name.
WHOLE_BODY = {"MALFORMED_JSON", "INVALID_BODY"}
# Examples per admin route, as a share of INLET_FUZZ_EXAMPLES: 6 per route in CI, 155
# under `make fuzz` (over 11,000 cases over the 73 routes, each read back by a list).
ROUTE_SCALE = 0.05
ROUTE_MINIMUM = 6

# Bodies per RPC: a valid one with one `@` where the fuzzed value goes. The fixture creates
# every kind of resource with the first, a fresh slug in place of `@`, which proves it
# valid. Routes not named take a whole fuzzed JSON value (their body is `{}` when valid).
BODIES: dict[str, tuple[bytes, ...]] = {
    "CreateWorkspace": (b'{"slug": @, "display_name": "Fuzz"}',),
    "CreateEntityType": (
        b'{"slug": @, "display_name": "T", "fields": [{"slug": "a", "display_name": "A",'
        b' "type": "FIELD_TYPE_TEXT"}]}',
        b'{"slug": "t1", "display_name": "T", "fields": [{"slug": @, "display_name": "A",'
        b' "type": "FIELD_TYPE_EMAIL", "unique": true}]}',
    ),
    "CreateField": (
        b'{"slug": @, "display_name": "F", "type": "FIELD_TYPE_TEXT"}',
        b'{"slug": "r", "display_name": "R", "type": "FIELD_TYPE_REFERENCE",'
        b' "reference_entity_type": @}',
    ),
    "UpdateField": (b'{"field": {"display_name": @}}', b'{"field": {"required": @}}'),
    "CreateIngestEndpoint": (
        b'{"display_name": @, "entity_type": "contact"}',
        b'{"display_name": "e", "entity_type": "contact", "rate_limit": @}',
    ),
    "UpdateIngestEndpoint": (
        b'{"display_name": @}',
        b'{"rate_limit": @, "rate_window_seconds": 60}',
        b'{"default_region": @}',
    ),
    "RotateIngestEndpointToken": (b'{"grace_period": @}',),
    "CreateStream": (b'{"display_name": @, "entity_type": "contact", "default_region": "NO"}',),
    "CreateIngestKey": (b'{"display_name": @}', b'{"display_name": "k", "rate_limit": @}'),
    "UpdateIngestKey": (b'{"display_name": @}', b'{"mode": @}'),
    "RotateIngestKey": (b'{"grace_seconds": @}',),
    "CreateReadKey": (b'{"display_name": @}',),
    "CreateProjectToken": (b'{"display_name": @}', b'{"display_name": "p", "expire_time": @}'),
    "RotateProjectToken": (b'{"grace_period": @}',),
    "CreateIntegration": (
        b'{"display_name": @, "type": "GENERIC", "entity_type": "contact"}',
        b'{"type": "GENERIC", "entity_type": "contact", "mapping": @}',
        b'{"type": @, "entity_type": "contact"}',
    ),
    "UpdateIntegration": (b'{"display_name": @}', b'{"mapping": @}', b'{"max_body_bytes": @}'),
    "CreateClientToken": (
        b'{"display_name": @, "entity_type": "contact",'
        b' "allowed_origins": ["https://www.example.com"]}',
        b'{"entity_type": "contact", "allowed_origins": [@]}',
    ),
    "UpdateClientToken": (b'{"display_name": @}', b'{"allowed_origins": [@]}'),
    "CreateApiKey": (b'{"display_name": @}',),
    "RotateApiKey": (b'{"grace_seconds": @}',),
    "CreateSession": (
        b'{"display_name": @, "types": [{"endgrate_type": "crm-contact"}]}',
        b'{"types": [{"endgrate_type": @}]}',
        b'{"types": [{"endgrate_type": "crm-contact"}], "data_webhook": {"url": @}}',
    ),
    "UpdateSession": (b'{"display_name": @}', b'{"default_region": @}'),
    "CreateWebhookEndpoint": (
        b'{"url": "https://hooks.example.com/inlet", "description": @}',
        b'{"url": @}',
        b'{"url": "https://hooks.example.com/inlet", "event_types": [@]}',
    ),
    "UpdateWebhookEndpoint": (b'{"description": @}', b'{"event_types": [@]}'),
    "RotateWebhookEndpointSecret": (b'{"grace_period": @}',),
    "RecoverWebhookDeliveries": (b'{"since": @}',),
}
# Plain values of the right kinds, so half the bodies get past the edge to the service.
BENIGN = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True).map(json.dumps),
    st.sampled_from(
        [
            "1",
            "0",
            "-1",
            "60",
            "true",
            "null",
            "{}",
            "[]",
            '"60s"',
            '"-5s"',
            '"2026-01-01T00:00:00Z"',
            '"https://hooks.example.com/x"',
            '"http://127.0.0.1:1/x"',
            '"record.created"',
            '"crm-contact"',
            '"contact"',
            '"INGEST_KEY_MODE_TEST"',
        ]
    ),
)


def bodies_for(templates: tuple[bytes, ...]) -> st.SearchStrategy[bytes]:
    template = st.sampled_from(templates)
    return st.one_of(
        template.flatmap(body_around),
        st.tuples(template, BENIGN).map(lambda t: t[0].replace(b"@", t[1].encode(), 1)),
    )


# Query parameters the service requires on a create, given a fresh value by default.
REQUIRED_QUERY = {"CreateStream": "stream_id", "CreateIntegration": "integration_id"}

# Values for the query string: what stretches a parser, and values of the right kinds.
QUERY_VALUES = st.one_of(
    odd_text,
    number_text,
    st.sampled_from(
        [
            "",
            "true",
            "false",
            "maybe",
            "2026-01-01T00:00:00Z",
            "2026-13-45T99:99:99Z",
            "9999-12-31T23:59:59.999999999Z",
            "0001-01-01T00:00:00Z",
            "-1",
            "0",
            "1",
            "1000000",
            "display_name",
            "display_name,rate_limit",
            "*",
            "name",
            "nope.deep",
            "email",
            "a@acme.no",
            "crm-contact",
            "DELIVERY_STATUS_FAILED",
            "200",
            "60s",
            "%00",
        ]
    ),
)
# Page tokens: garbage, base64 of garbage, and (from the fixture) real ones of other lists.
PAGE_TOKENS = st.one_of(
    odd_text,
    st.sampled_from(["bm9wZQ", "!!", "e30", "eyJvIjotMX0", "eyJvIjoxZTk5OX0", "A" * 600, "%ff"]),
    st.binary(max_size=48).map(lambda b: urllib.parse.quote_from_bytes(b)),
)
# Resource ids put in place of one path variable (sent percent-encoded, or raw).
BAD_IDS = st.one_of(
    odd_text.filter(lambda t: t.strip(".") != "").map(lambda t: urllib.parse.quote(t, safe="")),
    st.sampled_from(
        [
            "%00",
            "%ff%fe",
            "%ed%a0%80",
            "a%2Fb",
            "%2E%2E",
            "x" * 300,
            "9" * 40,
            "-1",
            "*",
            "~",
            "workspaces",
            "a;b",
            "a:b",
            "%20",
            "%zz",
        ]
    ),
)
# JSON most often, so most bodies reach the service's own checks.
CONTENT_TYPES = st.sampled_from(
    ["application/json"] * 6
    + [
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/merge-patch+json",
        "",
    ]
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200).map(
    str.strip
)
EXTRA_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Accept": st.sampled_from(["*/*", "text/html", "application/xml", "", "application/json"]),
        "Content-Encoding": st.sampled_from(["gzip", "br", "identity", "x"]),
        "X-Request-Id": header_text,
        "Idempotency-Key": header_text,
        "X-HTTP-Method-Override": st.sampled_from(["DELETE", "GET", "PATCH", "x"]),
        "X-Forwarded-For": st.sampled_from(["1.2.3.4", "nope", "::1, 10.0.0.1"]),
        "Origin": st.sampled_from(["https://evil.example", "null"]),
        "Expect": st.sampled_from(["100-continue", "x"]),
    },
)
# How a request authenticates: the right token most often, otherwise a wrong one.
AUTH = st.sampled_from(
    ["valid"] * 10
    + ["none", "empty", "scheme", "basic", "truncated", "suffixed", "other", "lower", "twice"]
    + ["padded", "garbage"]
)


@dataclass
class Fixture:
    stack: Stack
    workspace: str  # id
    admin_token: str
    other_token: str  # another workspace's admin token
    ids: dict[str, str]  # collection → a real resource id of the workspace
    page_tokens: list[str]  # real next_page_tokens of several lists
    request_ids: dict[str, str]  # dialect → a real request id
    keys: dict[str, str]  # dialect → its credential


def doc_path(route: AdminRoute) -> str:
    """The OpenAPI path of `route`, found by matching its path with placeholder ids."""
    probe = route.path(_Placeholders())
    for path, operations in DOCUMENT["paths"].items():
        pattern = re.escape(path)
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/:]+", pattern)
        if re.fullmatch(pattern, probe) and route.method.lower() in operations:
            return str(path)
    raise AssertionError(f"{route.rpc} {probe}: not in the served document")


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "x1"


def documented(template: str, method: str, status: int) -> str:
    responses = DOCUMENT["paths"][template][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {template}: {status} undocumented"
    content = responses[str(status)].get("content") or {}
    return next(iter(content), "")


def variables(route: AdminRoute) -> list[str]:
    """The collections whose ids the route's path holds, outermost first."""
    return re.findall(r"([A-Za-z]+)/\*", route.template)


def auth_headers(kind: str, valid: str, other: str) -> list[tuple[str, str]]:
    headers = {
        "valid": [("Authorization", f"Bearer {valid}")],
        "none": [],
        "empty": [("Authorization", "")],
        "scheme": [("Authorization", "Bearer")],
        "basic": [("Authorization", f"Basic {valid}")],
        "truncated": [("Authorization", f"Bearer {valid[: len(valid) // 2]}")],
        "suffixed": [("Authorization", f"Bearer {valid}x")],
        "other": [("Authorization", f"Bearer {other}")],
        "lower": [("authorization", f"bearer {valid}")],
        "twice": [("Authorization", f"Bearer {other}"), ("Authorization", f"Bearer {valid}")],
        "padded": [("Authorization", f"Bearer  {valid}")],
        "garbage": [("Authorization", f"Bearer {valid[:4]}\xe9\xff{secrets.token_hex(4)}")],
    }
    return headers[kind]


def latin1(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Header lines as bytes: HTTP/1.1 carries Latin-1 text, which httpx sends only as bytes."""
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def check_answer(where: str, template: str, method: str, answer: httpx.Response) -> None:
    assert answer.status_code < 500, f"{where} {answer.text[:2000]}"
    kind = documented(template, method, answer.status_code)
    assert answer.headers.get("content-type", "").startswith(kind), f"{where} {answer.text[:500]}"
    if answer.status_code >= 400:
        body = answer.json()
        assert isinstance(body, dict), answer.text
        if template.startswith("/api/ingest"):
            assert body["success"] is False, body
            assert isinstance(body["error"]["code"], str), body
        else:
            assert answer.headers["content-type"].startswith(PROBLEM), where
            assert body["status"] == answer.status_code, body
            assert isinstance(body["code"], str), body
            assert body["type"].startswith("http"), body
            if answer.status_code == 400 and body["code"] not in WHOLE_BODY:
                # Bad input names its field, query parameter or header.
                assert body.get("errors"), body
                assert all(e["field"] and e["code"] for e in body["errors"]), body


# --- what a refused request must leave as it was -----------------------------------------


class Lister:
    """What the admin API lists of the collection a route writes to (and of its item),
    every page; the database for the two bootstrap routes, which have no list."""

    def __init__(self, client: httpx.Client, fixture: Fixture, route: AdminRoute) -> None:
        self.client = client
        self.fixture = fixture
        self.route = route
        self.url = self._watched()

    def _watched(self) -> str:
        """The list of the collection the route writes to (an entity type holds its
        fields); a list shows each item as its Get does."""
        path = self.route.path(self.fixture.ids).split(":")[0]
        parts = path.removeprefix("/admin/v1/").split("/")
        collection = "/".join(parts[:-1] if len(parts) % 2 == 0 else parts)
        return f"/admin/v1/{collection.removesuffix('/fields')}"

    def __call__(self) -> Any:
        if self.route.name == "CreateWorkspace":
            # Nothing else writes workspaces while this test runs (the suite is sequential).
            return self._sql("SELECT count(*) FROM workspaces", {})
        if self.route.name == "CreateAdminToken":
            return self._sql(
                "SELECT count(*) FROM admin_tokens WHERE workspace_id = %(w)s",
                {"w": self.fixture.workspace},
            )
        return self._all(self.url)

    def _sql(self, sql: str, params: dict[str, str]) -> Any:
        with psycopg.connect(self.fixture.stack.database_url, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
        assert row is not None
        return row[0]

    def _all(self, url: str) -> list[Any]:
        auth = {"Authorization": f"Bearer {self.fixture.admin_token}"}
        paged = not self.route.template.split(":")[0].endswith(("/fields", "/fields/*}"))
        pages: list[Any] = []
        token = ""
        while True:
            params: dict[str, str | int] = {"page_size": 100}
            if token:
                params["page_token"] = token
            got = self.client.get(url, params=params if paged else None, headers=auth)
            assert got.status_code == 200, f"{url}: {got.text}"
            pages.append(got.json())
            token = got.json().get("next_page_token", "")
            if not token:
                return pages


# --- the fixture: one workspace with a resource of every kind ------------------------------


@pytest.fixture(scope="module")
async def fixture(stack: Stack) -> Fixture:
    # Blocking HTTP in a thread: the stack's processes are watched from this event loop.
    return await asyncio.to_thread(seed, stack)


def seed(stack: Stack) -> Fixture:
    bootstrap = {"Authorization": f"Bearer {stack.bootstrap_token}"}
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        workspaces = []
        for _ in range(2):
            slug = f"af{secrets.token_hex(5)}"
            made = client.post("/admin/v1/workspaces", json={"slug": slug}, headers=bootstrap)
            assert made.status_code == 200, made.text
            workspace = made.json()["workspace"]["id"]
            token = client.post(f"/admin/v1/workspaces/{workspace}/adminTokens", headers=bootstrap)
            assert token.status_code == 200, token.text
            workspaces.append((workspace, token.json()["admin_token"]))
        (workspace, admin_token), (_, other_token) = workspaces
        fixture = Fixture(stack, workspace, admin_token, other_token, {}, [], {}, {})
        fixture.ids["workspaces"] = workspace
        make = _Maker(client, fixture)
        for slug in ("contact", "company"):
            make.entity_type(slug)
        fixture.ids["entityTypes"] = "contact"
        fixture.ids["fields"] = "name"
        for collection in ("ingestEndpoints", "streams", "integrations", "projectTokens"):
            make.resource(collection)
            make.resource(collection)  # two, so each list has a next page
        for collection in ("clientTokens", "apiKeys", "sessions", "webhookEndpoints"):
            make.resource(collection)
        for collection in ("ingestKeys", "readKeys"):
            make.resource(collection)
        fixture.ids["deliveries"] = "d1"  # none: nothing happens in the workspace
        make.traffic()
    return fixture


class _Maker:
    """Creates resources over HTTP with the fuzzed routes' own valid bodies."""

    def __init__(self, client: httpx.Client, fixture: Fixture) -> None:
        self.client = client
        self.fixture = fixture
        self.auth = {"Authorization": f"Bearer {fixture.admin_token}"}
        self.endpoint_token = ""

    def entity_type(self, slug: str) -> None:
        fields = [
            {"slug": "name", "display_name": "Name", "type": "FIELD_TYPE_TEXT"},
            {"slug": "email", "display_name": "E-mail", "type": "FIELD_TYPE_EMAIL", "unique": True},
        ]
        made = self.client.post(
            f"/admin/v1/workspaces/{self.fixture.workspace}/entityTypes",
            json={"slug": slug, "display_name": slug, "fields": fields},
            headers=self.auth,
        )
        assert made.status_code == 200, made.text

    def resource(self, collection: str) -> str:
        """A new resource in `collection` of the workspace; its id (also kept in `ids`)."""
        found, answer = create(self.client, self.fixture, creator(collection), self.fixture.ids)
        assert found, collection
        self.fixture.ids[collection] = found
        if collection == "ingestEndpoints":
            self.endpoint_token = answer.get("token", "")
        return found

    def traffic(self) -> None:
        """A request of each asynchronous dialect (for the status routes), a record, and a
        real page token of each list that has two items."""
        ids = self.fixture.ids
        ws = f"/admin/v1/workspaces/{self.fixture.workspace}"
        key = self.client.post(
            f"{ws}/streams/{ids['streams']}/ingestKeys", json={}, headers=self.auth
        ).json()["secret"]
        stream = self.client.post(
            "/api/ingest",
            json=[{"email": "s@acme.no", "name": "S"}],
            headers={"Authorization": f"Bearer {key}"},
        )
        assert stream.status_code == 202, stream.text
        self.fixture.keys["stream"] = key
        self.fixture.request_ids["stream"] = stream.json()["data"]["request_id"]
        project = self.client.post(
            f"{ws}/projectTokens", json={"display_name": "status"}, headers=self.auth
        ).json()["secret"]
        external = self.client.post(
            f"/api/v1/external/data-ingestion/{ids['integrations']}",
            json=[{"email": "i@acme.no"}],
            headers={"Authorization": f"Bearer {project}"},
        )
        assert external.status_code == 202, external.text
        self.fixture.keys["integration"] = project
        self.fixture.request_ids["integration"] = request_id_of(external)
        pushed = self.client.post(
            f"/api/v1/ingest/{self.endpoint_token}", json={"fields": {"name": "R"}}
        )
        assert pushed.status_code == 200, pushed.text
        ids["records"] = pushed.json()["record"]["id"]
        for collection in ("ingestEndpoints", "streams", "integrations", "projectTokens"):
            page = self.client.get(f"{ws}/{collection}", params={"page_size": 1}, headers=self.auth)
            assert page.status_code == 200, page.text
            self.fixture.page_tokens.append(page.json()["next_page_token"])


def creator(collection: str) -> AdminRoute:
    return next(r for r in ROUTES if r.method == "POST" and r.template.endswith(f"/{collection}"))


_fresh = itertools.count(1)


def fresh_slug() -> str:
    return f"v{next(_fresh)}x{secrets.token_hex(3)}"


def create(
    client: httpx.Client, fixture: Fixture, route: AdminRoute, ids: dict[str, str]
) -> tuple[str, Any]:
    """Creates one resource with `route`'s first body (a fresh slug for `@`); its id and
    the answer."""
    template = BODIES.get(route.name, (b"@",))[0]
    body = template.replace(b"@", json.dumps(fresh_slug()).encode(), 1)
    if template == b"@":
        body = b"{}"
    query = {REQUIRED_QUERY[route.name]: fresh_slug()} if route.name in REQUIRED_QUERY else None
    made = client.post(
        route.path(ids),
        content=body,
        params=query,
        headers={
            "Authorization": f"Bearer {fixture.admin_token}",
            "Content-Type": "application/json",
        },
    )
    assert made.status_code == 200, f"{route.rpc}: {made.text}"
    collection = route.template.rsplit("/", 1)[-1]
    names = re.findall(rf'"(workspaces/[^"]*/{collection}/([^"/]+))"', made.text)
    return (names[0][1] if names else ""), made.json()


# --- one route's fuzz -------------------------------------------------------------------


# Routes that destroy or replace what they name get a resource of their own, so the
# routes fuzzed after them still find the workspace's shared resources.
DESTRUCTIVE = re.compile(r"^(Delete|Revoke|Rotate)")


def run_route(fixture: Fixture, route: AdminRoute) -> int:
    with httpx.Client(base_url=fixture.stack.gateway_url, timeout=30) as client:
        return fuzz_route(client, fixture, route)


def fuzz_route(client: httpx.Client, fixture: Fixture, route: AdminRoute) -> int:
    bootstrap = route.name in ("CreateWorkspace", "CreateAdminToken")
    valid = fixture.stack.bootstrap_token if bootstrap else fixture.admin_token
    other = fixture.admin_token if bootstrap else fixture.other_token
    template = doc_path(route)
    names = variables(route)
    ids = dict(fixture.ids)
    if DESTRUCTIVE.match(route.name) and names[-1] not in ("workspaces", "entityTypes", "fields"):
        ids[names[-1]] = create(client, fixture, creator(names[-1]), ids)[0]
    elif route.name in ("DeleteEntityType", "DeleteField"):
        ids["entityTypes"] = fresh_slug()
        _Maker(client, fixture).entity_type(ids["entityTypes"])
        ids["fields"] = "email"
    writes = route.method != "GET"
    lister = Lister(client, Fixture(**{**fixture.__dict__, "ids": ids}), route)
    state: list[Any] = [lister() if writes else None]
    counts = {"cases": 0}
    bodies: st.SearchStrategy[bytes] = (
        bodies_for(BODIES.get(route.name, (b"@",)))
        if route.method in ("POST", "PATCH")
        else st.one_of(st.just(b""), st.just(b""), st.just(b""), body_around(b"@"))
    )
    query_names = [*route.query, "nope", "$alt", "fields"]
    queries = st.lists(
        st.tuples(
            st.sampled_from(query_names),
            PAGE_TOKENS if route.paged else QUERY_VALUES,
        )
        | st.tuples(st.sampled_from(query_names), QUERY_VALUES)
        | st.tuples(st.just("page_token"), st.sampled_from(fixture.page_tokens or ["x"])),
        max_size=3,
    )
    # Most requests carry only their required query, so most reach the service.
    queries = st.one_of(st.just([]), st.just([]), queries)

    @fuzz_settings(scale=ROUTE_SCALE, at_least=ROUTE_MINIMUM)
    @given(
        body=bodies,
        content_type=CONTENT_TYPES,
        auth=AUTH,
        extra=EXTRA_HEADERS,
        query=queries,
        bad_id=st.none() | st.tuples(st.integers(0, 5), BAD_IDS),
        chunk=st.sampled_from([0, 0, 0, 1, 7, 4096]),
    )
    def fuzz(
        body: bytes,
        content_type: str,
        auth: str,
        extra: dict[str, str],
        query: list[tuple[str, str]],
        bad_id: tuple[int, str] | None,
        chunk: int,
    ) -> None:
        counts["cases"] += 1
        sent_ids = dict(ids)
        if bad_id is not None and names:
            sent_ids[names[bad_id[0] % len(names)]] = bad_id[1]
        params = list(query)
        if route.name in REQUIRED_QUERY:
            params.insert(0, (REQUIRED_QUERY[route.name], fresh_slug()))
        path = route.path(sent_ids)
        if params:
            path += "?" + "&".join(
                f"{urllib.parse.quote(k, safe='$')}={urllib.parse.quote(v, safe='%')}"
                for k, v in params
            )
        headers = [*auth_headers(auth, valid, other), *extra.items()]
        content: Any = None
        if body or route.method in ("POST", "PATCH"):
            headers.append(("Content-Type", content_type))
            # chunk 0: one body with a Content-Length; otherwise Transfer-Encoding: chunked.
            content = body if chunk == 0 else chunks(body, chunk)
        answer = client.request(route.method, path, content=content, headers=latin1(headers))
        where = f"{route.method} {path} {body[:300]!r} {headers}: {answer.status_code}"
        check_answer(where, template, route.method, answer)
        if not writes:
            return
        after = lister()
        if answer.status_code >= 400:
            assert after == state[0], f"{where}: a refused request changed what the API lists"
        state[0] = after

    fuzz()
    return counts["cases"]


ALL_ROUTES = [*BOOTSTRAP_ROUTES, *ROUTES]


def test_the_fuzz_covers_every_admin_route_in_the_document() -> None:
    admin_paths = {
        (method.upper(), path)
        for path, operations in DOCUMENT["paths"].items()
        if path.startswith("/admin/")
        for method in operations
        if method in ("get", "post", "patch", "delete", "put")
    }
    assert {(r.method, doc_path(r)) for r in ALL_ROUTES} == admin_paths


@pytest.mark.parametrize("route", ALL_ROUTES, ids=lambda r: f"{r.name}:{r.template}")
async def test_fuzzed_admin_requests_stay_inside_the_contract(
    fixture: Fixture, route: AdminRoute
) -> None:
    # Hypothesis drives a blocking client in a thread; the stack runs as processes.
    cases = await asyncio.to_thread(run_route, fixture, route)
    assert cases >= 1


# --- request status, health and the document ---------------------------------------------


@dataclass(frozen=True)
class Read:
    template: str
    path: Callable[[Fixture, str | None], str]
    credential: str  # "" for an open route
    other: str


READS = [
    Read(
        "/api/ingest/requests/{request_id}",
        lambda f, bad: f"/api/ingest/requests/{bad or f.request_ids['stream']}",
        "stream",
        "integration",
    ),
    Read(
        "/api/v1/external/data-ingestion/requests/{request_id}",
        lambda f, bad: (
            f"/api/v1/external/data-ingestion/requests/{bad or f.request_ids['integration']}"
        ),
        "integration",
        "stream",
    ),
    Read("/healthz", lambda f, bad: "/healthz", "", ""),
    Read("/openapi.json", lambda f, bad: "/openapi.json", "", ""),
    Read("/docs", lambda f, bad: "/docs", "", ""),
]


def run_read(fixture: Fixture, read: Read) -> None:
    client = httpx.Client(base_url=fixture.stack.gateway_url, timeout=30)

    @fuzz_settings(scale=ROUTE_SCALE * 4, at_least=ROUTE_MINIMUM * 2)
    @given(
        auth=AUTH,
        extra=EXTRA_HEADERS,
        query=st.lists(
            st.tuples(st.sampled_from(["page_token", "x", "request_id"]), QUERY_VALUES), max_size=2
        ),
        bad_id=st.none() | BAD_IDS,
    )
    def fuzz(
        auth: str, extra: dict[str, str], query: list[tuple[str, str]], bad_id: str | None
    ) -> None:
        path = read.path(fixture, bad_id)
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = [*extra.items()]
        if read.credential:
            headers += auth_headers(auth, fixture.keys[read.credential], fixture.keys[read.other])
        answer = client.get(path, headers=latin1(headers))
        where = f"GET {path} {headers}: {answer.status_code}"
        check_answer(where, read.template, "GET", answer)

    with client:
        fuzz()


@pytest.mark.parametrize("read", READS, ids=lambda r: r.template)
async def test_fuzzed_status_health_and_document_reads_stay_inside_the_contract(
    fixture: Fixture, read: Read
) -> None:
    await asyncio.to_thread(run_read, fixture, read)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://hooks.example.com/x", "INVALID_WEBHOOK_URL"),
        ("http://127.0.0.1:1/x", "WEBHOOK_TARGET_PRIVATE"),
    ],
)
async def test_a_refused_webhook_url_names_the_field(
    fixture: Fixture, http: httpx.AsyncClient, url: str, code: str
) -> None:
    made = await http.post(
        f"/admin/v1/workspaces/{fixture.workspace}/webhookEndpoints",
        json={"url": url},
        headers={"Authorization": f"Bearer {fixture.admin_token}"},
    )
    assert made.status_code == 400, made.text
    problem = made.json()
    assert problem["code"] == code, problem
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("webhook_endpoint.url", code)]
