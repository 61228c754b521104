"""Values PostgreSQL (or UTF-8) cannot hold are 400s naming where they are, never a 5xx,
and nothing is written (found by the raw-byte HTTP fuzzer: a lone surrogate escape and
deep nesting were 500s, a unique value too long to index was a 503 "database
unavailable")."""

from __future__ import annotations

import random

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_devstack.demo import DemoSeed
from tests.messages import PROBLEM, key_headers, push_url, records
from tests.stream_support import finished_over_http, sales_stream

pytestmark = pytest.mark.e2e


def digits(n: int) -> str:
    # Random, so PostgreSQL cannot compress it under its index limit.
    return "".join(random.choice("0123456789") for _ in range(n))


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"fields": {"name": "Ola \\ud800"}}', "fields.name holds an unpaired"),
        (b'{"fields": {"name": "x"}, "related": {"c": {"\\udfff": 1}}}', "related.c.\\udfff"),
        (b'{"fields": {"name": ' + b"[" * 200 + b"]" * 200 + b"}}", "nested deeper than 128"),
    ],
)
async def test_endpoint_push_refuses_what_json_text_cannot_hold(
    http: httpx.AsyncClient,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    seeded: DemoSeed,
    body: bytes,
    where: str,
) -> None:
    reply = await http.post(
        push_url(seeded, "contact"), content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    assert reply.json()["code"] == "MALFORMED_JSON"
    assert where in reply.json()["detail"]
    assert await records(admin, seeded, "contact") == []


async def test_a_unique_value_too_long_to_index_is_refused_naming_the_field(
    http: httpx.AsyncClient, admin: admin_pb2_grpc.AdminServiceAsyncStub, seeded: DemoSeed
) -> None:
    reply = await http.post(
        push_url(seeded, "contact"), json={"fields": {"name": "Ola", "phone": digits(3000)}}
    )
    assert reply.status_code == 400, reply.text
    problem = reply.json()
    assert problem["code"] == "VALIDATION_FAILED"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("fields.phone", "VALUE_TOO_LONG")
    ]
    assert await records(admin, seeded, "contact") == []
    # Just under the limit is a phone like any other.
    fits = await http.post(push_url(seeded, "contact"), json={"fields": {"phone": digits(990)}})
    assert fits.status_code == 200, fits.text


async def test_stream_items_too_long_to_index_fail_alone(
    http: httpx.AsyncClient,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: object,
    seeded: DemoSeed,
) -> None:
    sales = await sales_stream(admin, streams_admin, seeded)  # type: ignore[arg-type]
    batch = [{"region": digits(3000), "revenue": 1}, {"region": "North", "revenue": 2}]
    headers = key_headers(sales.key, **{"X-Item-Key": "region"})
    answer = await http.post("/api/ingest", json=batch, headers=headers)
    assert answer.status_code == 202, answer.text
    status = await finished_over_http(http, sales.key, answer.json()["data"]["request_id"])
    first, second = status["items"]
    assert first["action"] == "failed", first
    assert first["error"]["code"] == "VALIDATION_FAILED"
    assert [(f["field"], f["code"]) for f in first["error"]["fields"]] == [
        ("items[0].region", "VALUE_TOO_LONG")
    ]
    assert second["action"] == "created"


async def test_stream_ingest_refuses_a_lone_surrogate(
    http: httpx.AsyncClient,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: object,
    seeded: DemoSeed,
) -> None:
    sales = await sales_stream(admin, streams_admin, seeded)  # type: ignore[arg-type]
    answer = await http.post(
        "/api/ingest", content=b'[{"region": "\\ud800"}]', headers=key_headers(sales.key)
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "INVALID_PAYLOAD"
    assert "[0].region holds an unpaired" in error["message"]
