"""Values leave inlet exactly as they came in: numbers keep their text through push,
stream, admin read-back (HTTP, gRPC, CLI) and request status; phones are normalised, not
refused; an empty push writes nothing."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc, streams_pb2_grpc
from inlet.type.v1 import entity_pb2
from inlet.type.v1.entity_pb2 import FieldType as FT
from inlet_common import exactjson
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests.e2e.cli_support import Cli
from tests.messages import as_dict, bearer_header, number_in, push_url, records
from tests.stream_support import SalesStream, finished_over_http, sales_stream

pytestmark = pytest.mark.e2e

# Each as it is written on the wire, and as it must be written back.
NUMBERS = [
    "9007199254740993",
    "0.1",
    "142000",
    "19.99",
    "1e-7",
    "-0.0",
    "2.5E+3",
    "1.50",
    "123456789012345678901234567890",
]
JSON = {"content-type": "application/json"}


async def read_back(http: httpx.AsyncClient, seed: DemoSeed, record_id: str) -> str:
    got = await http.get(
        f"/admin/v1/{seed.workspace}/entityTypes/deal/records/{record_id}",
        headers=bearer_header(seed.admin_token),
    )
    assert got.status_code == 200, got.text
    return got.text


@pytest.mark.parametrize("number", NUMBERS)
async def test_endpoint_push_keeps_the_number_as_sent(
    http: httpx.AsyncClient,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    number: str,
) -> None:
    body = f'{{"fields": {{"title": "Exact", "value": {number}}}}}'.encode()
    pushed = await http.post(push_url(seeded, "deal"), content=body, headers=JSON)
    assert pushed.status_code == 200, pushed.text
    record_id = pushed.json()["record"]["id"]

    # Over HTTP: the literal text.
    assert number_in(await read_back(http, seeded, record_id), "value") == number
    # Over gRPC: the RawJson text, and its exact value.
    got = await admin.GetRecord(
        admin_pb2.GetRecordRequest(name=f"{seeded.workspace}/entityTypes/deal/records/{record_id}"),
        metadata=seeded.auth,
    )
    assert number_in(got.record.values.json, "value") == number
    assert as_dict(got.record)["values"]["value"] == exactjson.loads(number)


async def test_the_cli_prints_numbers_as_sent(
    http: httpx.AsyncClient, stack: Stack, seeded: DemoSeed
) -> None:
    body = b'{"fields": {"title": "Cli", "value": 9007199254740993.10}}'
    pushed = await http.post(push_url(seeded, "deal"), content=body, headers=JSON)
    record_id = pushed.json()["record"]["id"]
    cli = Cli(
        {
            **os.environ,
            "INLET_ADMIN_URL": stack.address("store"),
            "INLET_ADMIN_TOKEN": seeded.admin_token,
            "INLET_WORKSPACE": seeded.workspace.removeprefix("workspaces/"),
            "INLET_INGEST_URL": stack.gateway_url,
            "COLUMNS": "200",
        },
        "",
    )
    shown = cli.run("--json", "records", "get", "deal", record_id).stdout
    assert number_in(shown, "value") == "9007199254740993.10"
    table = cli.run("records", "get", "deal", record_id).stdout
    assert "value=9007199254740993.10" in table


async def test_example_payload_numbers_are_integers(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    got = await http.get(
        f"/admin/v1/{seeded.endpoints['deal']}/example",
        headers=bearer_header(seeded.admin_token),
    )
    assert got.status_code == 200, got.text
    assert not re.search(r":\s*-?[0-9]+\.0[,}]", got.text), got.text


@pytest.fixture
async def sales(
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    seeded: DemoSeed,
) -> SalesStream:
    return await sales_stream(admin, streams_admin, seeded)


async def test_stream_items_keep_their_numbers(
    http: httpx.AsyncClient, seeded: DemoSeed, sales: SalesStream
) -> None:
    items = ",".join(
        f'{{"region": "r{n}", "revenue": {number}, "target": 130000}}'
        for n, number in enumerate(NUMBERS)
    )
    headers = {**JSON, **bearer_header(sales.key), "x-item-key": "region"}
    accepted = await http.post("/api/ingest", content=f"[{items}]".encode(), headers=headers)
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["data"]["request_id"]

    status = await finished_over_http(http, sales.key, request_id)
    assert status["status"] == "completed", status
    assert [item["index"] for item in status["items"]] == list(range(len(NUMBERS)))
    for item, number in zip(status["items"], NUMBERS, strict=True):
        got = await http.get(
            f"/admin/v1/{seeded.workspace}/entityTypes/sales/records/{item['record_id']}",
            headers=bearer_header(seeded.admin_token),
        )
        assert number_in(got.text, "revenue") == number
        assert number_in(got.text, "target") == "130000"


@pytest.mark.parametrize(
    ("phone", "key"),
    [
        ("+47 49876543", "+4749876543"),
        ("555-123-4567", "5551234567"),
        ("412-34-567", "41234567"),
        ("+1 650 253 0000 ext 12", "+16502530000;ext=12"),
    ],
)
async def test_real_phone_numbers_are_normalised_not_refused(
    http: httpx.AsyncClient, seeded: DemoSeed, phone: str, key: str
) -> None:
    # The demo contact endpoint has region NO; a US-style number still cannot be placed.
    url = push_url(seeded, "contact")
    first = await http.post(url, json={"fields": {"name": "P", "phone": phone}})
    assert first.status_code == 200, first.text
    again = await http.post(url, json={"fields": {"phone": phone.replace(" ", "")}})
    assert again.json()["record"] == {
        "id": first.json()["record"]["id"],
        "action": "updated",
        "matched_on": ["phone"],
    }


async def test_an_extension_is_another_number(http: httpx.AsyncClient, seeded: DemoSeed) -> None:
    url = push_url(seeded, "contact")
    plain = await http.post(url, json={"fields": {"phone": "+1 650 253 0000"}})
    extension = await http.post(url, json={"fields": {"phone": "+1 650 253 0000 ext 12"}})
    assert plain.json()["record"]["action"] == "created"
    assert extension.json()["record"]["action"] == "created"


async def test_a_phone_without_digits_is_refused(http: httpx.AsyncClient, seeded: DemoSeed) -> None:
    reply = await http.post(push_url(seeded, "contact"), json={"fields": {"phone": "call me"}})
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["field"] == "fields.phone"
    assert reply.json()["errors"][0]["code"] == "INVALID_PHONE"


@pytest.mark.parametrize(
    "body",
    [b"", b"{}", b'{"fields": null}', b'{"fields": {}}', b'{"fields": {}, "related": null}'],
)
async def test_an_empty_push_is_400_naming_fields_and_writes_nothing(
    http: httpx.AsyncClient,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    body: bytes,
) -> None:
    before = len(await records(admin, seeded, "contact"))
    reply = await http.post(push_url(seeded, "contact"), content=body, headers=JSON)
    assert reply.status_code == 400, reply.text
    problem = reply.json()
    assert problem["code"] == "VALIDATION_FAILED"
    assert problem["errors"] == [
        {"field": "fields", "code": "EMPTY_PUSH", "message": problem["errors"][0]["message"]}
    ]
    assert len(await records(admin, seeded, "contact")) == before


async def test_an_integer_field_keeps_big_ids_matches_by_value_and_refuses_fractions(
    http: httpx.AsyncClient, seeded: DemoSeed, admin: admin_pb2_grpc.AdminServiceAsyncStub
) -> None:
    order = entity_pb2.EntityType(
        slug="order",
        display_name="Order",
        fields=[
            entity_pb2.Field(
                slug="order_id", display_name="Order id", type=FT.FIELD_TYPE_INTEGER, unique=True
            ),
            entity_pb2.Field(slug="total", display_name="Total", type=FT.FIELD_TYPE_NUMBER),
        ],
    )
    await admin.CreateEntityType(
        admin_pb2.CreateEntityTypeRequest(parent=seeded.workspace, entity_type=order),
        metadata=seeded.auth,
    )
    made = await admin.CreateIngestEndpoint(
        admin_pb2.CreateIngestEndpointRequest(
            parent=seeded.workspace,
            ingest_endpoint=admin_pb2.IngestEndpoint(display_name="Orders", entity_type="order"),
        ),
        metadata=seeded.auth,
    )
    url = f"/api/v1/ingest/{made.token}"

    first = await http.post(
        url, content=b'{"fields": {"order_id": 9007199254740993, "total": 19.990}}', headers=JSON
    )
    assert first.status_code == 200, first.text
    # The same number written another way is the same key.
    again = await http.post(
        url, content=b'{"fields": {"order_id": 9007199254740993.0}}', headers=JSON
    )
    assert again.json()["record"] == {
        "id": first.json()["record"]["id"],
        "action": "updated",
        "matched_on": ["order_id"],
    }
    neighbour = await http.post(
        url, content=b'{"fields": {"order_id": 9007199254740992}}', headers=JSON
    )
    assert neighbour.json()["record"]["action"] == "created"
    fraction = await http.post(url, content=b'{"fields": {"order_id": 1.5}}', headers=JSON)
    assert fraction.status_code == 400
    assert fraction.json()["errors"][0]["field"] == "fields.order_id"
    assert fraction.json()["errors"][0]["code"] == "INVALID_TYPE"
    record_id = first.json()["record"]["id"]
    got = await http.get(
        f"/admin/v1/{seeded.workspace}/entityTypes/order/records/{record_id}",
        headers={"authorization": seeded.auth[0][1]},
    )
    assert number_in(got.text, "total") == "19.990"
    assert number_in(got.text, "order_id") == "9007199254740993.0"  # the last text sent
