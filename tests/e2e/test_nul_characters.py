"""A U+0000 (NUL) in any string is a 400 naming the field, and nothing is stored: PostgreSQL
cannot hold it (found by the OpenAPI property test: it was a 500, and a stream item holding
one was accepted and then failed forever in the worker)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests.stream_support import SalesStream, sales_stream

pytestmark = pytest.mark.e2e


def admin_auth(seeded: DemoSeed) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.admin_token}"}


async def test_admin_api_refuses_a_nul_naming_the_field(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    created = await http.post(
        f"/admin/v1/{seeded.workspace}/entityTypes",
        headers=admin_auth(seeded),
        content=b'{"slug": "nul", "display_name": "N\\u0000", "fields": []}',
    )

    assert created.status_code == 400, created.text
    problem = created.json()
    assert created.headers["content-type"] == "application/problem+json"
    assert problem["errors"] == [
        {
            "field": "entity_type.display_name",
            "code": "NUL_CHARACTER",
            "message": "entity_type.display_name contains U+0000 (NUL), which cannot be stored",
        }
    ]
    missing = await http.get(
        f"/admin/v1/{seeded.workspace}/entityTypes/nul", headers=admin_auth(seeded)
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"fields": {"name": "Ola\\u0000"}}', "fields.name"),
        (b'{"fields": {"na\\u0000me": "Ola"}}', "fields.na\\u0000me"),
        (b'{"fields": {"name": "Ola"}, "related": {"x": {"e": ["\\u0000"]}}}', "related.x.e[0]"),
    ],
)
async def test_endpoint_push_refuses_a_nul_naming_the_field(
    http: httpx.AsyncClient, seeded: DemoSeed, body: bytes, field: str
) -> None:
    answer = await http.post(f"/api/v1/ingest/{seeded.tokens['contact']}", content=body)

    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["code"] == "VALIDATION_FAILED"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, "NUL_CHARACTER")]


async def stream_requests(stack: Stack, stream: SalesStream) -> int:
    async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM stream_requests r JOIN streams s ON s.id = r.stream_id"
            " WHERE s.slug = %s",
            (stream.slug,),
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"region": "North\\u0000"}', "body.region"),
        (b'{"re\\u0000gion": "North"}', "body.re\\u0000gion"),
        (b'[{"region": "North"}, {"region": "South", "target": "\\u0000"}]', "items[1].target"),
    ],
)
async def test_stream_ingest_refuses_a_nul_before_the_202_and_logs_it(
    http: httpx.AsyncClient,
    stack: Stack,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: Any,
    body: bytes,
    field: str,
) -> None:
    stream = await sales_stream(admin, streams_admin, seeded)

    answer = await http.post(
        "/api/ingest",
        content=body,
        headers={"Authorization": f"Bearer {stream.key}", "Content-Type": "application/json"},
    )

    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "INVALID_PAYLOAD"
    assert [(d["field"], d["code"]) for d in error["details"]] == [(field, "NUL_CHARACTER")]
    assert await stream_requests(stack, stream) == 0
    log = await http.get(f"/admin/v1/{stream.name}/connectorLogEntries", headers=admin_auth(seeded))
    assert log.status_code == 200, log.text
    [entry] = log.json()["connector_log_entries"]
    assert entry["status"] == "rejected"
    assert entry["request_id"] == answer.headers["x-request-id"]
