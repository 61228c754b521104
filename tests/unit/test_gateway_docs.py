"""The gateway's /openapi.json and /docs: the committed document as is, and a page that loads
nothing from anywhere."""

from __future__ import annotations

import json
import re

import orjson

from inlet_gateway import docs
from inlet_gateway.app import create_app
from tests.unit.test_gateway_app import CONFIG, broken_channel, drive


def headers_of(start: dict[str, object]) -> dict[bytes, bytes]:
    pairs = start["headers"]
    assert isinstance(pairs, list)
    return dict(pairs)


async def test_the_document_and_the_page_are_served_without_calling_a_service() -> None:
    app = create_app(CONFIG, channel_factory=broken_channel)

    start, body = await drive(app, "GET", "/openapi.json")
    assert start["status"] == 200
    assert headers_of(start)[b"content-type"] == b"application/json"
    assert body["body"] == docs.load_document()
    assert headers_of(start)[b"x-request-id"].startswith(b"req_")

    start, body = await drive(app, "GET", "/docs")
    assert start["status"] == 200
    headers = headers_of(start)
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert headers[b"content-security-policy"].startswith(b"default-src 'none'")
    assert b"/api/v1/ingest/{token}" in body["body"]


async def test_other_methods_are_405_with_allow() -> None:
    app = create_app(CONFIG, channel_factory=broken_channel)

    for path in ("/openapi.json", "/docs"):
        start, body = await drive(app, "POST", path)
        assert start["status"] == 405
        assert headers_of(start)[b"allow"] == b"GET, HEAD"
        assert orjson.loads(body["body"])["code"] == "METHOD_NOT_ALLOWED"


def test_the_page_shows_every_operation_and_schema_and_fetches_nothing() -> None:
    document = docs.load_document()
    spec = json.loads(document)
    page = docs.render_page(document).decode()

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert f'id="{operation["operationId"]}"' in page, (method, path)
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    # Self-contained: no script, stylesheet, image or frame, and links only within it.
    assert not re.search(r"<(script|link|img|iframe|object)\b|\bsrc=|@import|url\(", page)
    assert set(re.findall(r'href="([^"#][^"]*)"', page)) == {"/openapi.json"}


def test_the_page_escapes_what_the_document_says() -> None:
    document = {
        "info": {"title": "<b>t</b>", "version": "1", "description": "a <script>"},
        "tags": [{"name": "T", "description": "<i>"}],
        "paths": {
            "/x/{id}": {
                "get": {
                    "operationId": "Get",
                    "tags": ["T"],
                    "summary": "<img src=x>",
                    "responses": {"200": {"description": "<ok>"}},
                }
            }
        },
        "components": {"schemas": {}},
    }

    page = docs.render_page(orjson.dumps(document)).decode()

    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;img src=x&gt;" in page
