"""The OpenAPI document: valid 3.1, one operation per gateway route with the gateway's own path
matching, the dialects' bodies and envelopes, and generic for RPCs nobody declared."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import pytest
from google.api import annotations_pb2, http_pb2, httpbody_pb2
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    duration_pb2,
    field_mask_pb2,
    timestamp_pb2,
)
from openapi_spec_validator import validate

from inlet.type.v1 import json_pb2
from inlet_common.httprules import build_routes
from inlet_gateway import docs
from inlet_gateway.app import upstreams
from inlet_gateway.config import GatewayConfig
from tools.openapi.generate import _documented_errors, build, openapi_path, summary

# The stubs type the extension too narrowly to index with (the gateway casts it the same way).
HTTP_RULE = cast("Any", annotations_pb2.http)

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "gen" / "python" / "inlet" / "openapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(COMMITTED.read_text())
    return loaded


def test_the_committed_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_the_gateway_serves_the_committed_document() -> None:
    assert docs.load_document() == COMMITTED.read_bytes()


def _sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_gateway_route_is_an_operation_at_a_path_the_gateway_matches(
    document: dict[str, Any],
) -> None:
    config = GatewayConfig(listen_host="127.0.0.1", listen_port=0, matcher_addr="matcher:1")
    table = build_routes(upstreams(config))
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    for route in table.routes:
        grpc_name = f"gRPC: `{route.full_name}`"
        found = [
            (method, path)
            for (method, path), operation in operations.items()
            if grpc_name in operation.get("description", "")
            and method == route.http_method
            and route.template.regex.fullmatch(_sample_path(path)) is not None
        ]
        # One operation per binding (an RPC with additional_bindings has several routes).
        assert len(found) == 1, (route.full_name, route.template.source, found)
        method, path = found[0]
        # The document's path, with every parameter filled, is routed to this very RPC.
        matched = table.match(method, _sample_path(path))
        assert getattr(matched, "route", None) == route, (path, route.full_name)
    assert len(table.routes) == len(operations) - 4  # /healthz GET and HEAD, /openapi.json, /docs


def test_path_templates_become_one_parameter_per_segment() -> None:
    path, params = openapi_path("/admin/v1/{parent=workspaces/*/entityTypes/*}/records:lookup")

    assert path == "/admin/v1/workspaces/{workspace}/entityTypes/{entity_type}/records:lookup"
    assert [(p.name, p.field) for p in params] == [
        ("workspace", "parent"),
        ("entity_type", "parent"),
    ]
    assert openapi_path("/api/v1/ingest/{token}")[0] == "/api/v1/ingest/{token}"
    assert openapi_path("/v1/{name=deliveries/*}:replay")[0] == "/v1/deliveries/{delivery}:replay"
    doubled, params = openapi_path("/v1/{a=things/*}/{b=things/*}")
    assert doubled == "/v1/things/{thing}/things/{thing_2}"


def test_errors_come_from_the_comment_s_errors_section() -> None:
    comment = "Makes a thing. NOT_FOUND is not an error here.\n\nErrors: INVALID_ARGUMENT (bad),\n"
    comment += "  FAILED_PRECONDITION (IDEMPOTENCY_KEY_REUSED, ENDPOINT_DISABLED), NOT_FOUND."

    assert _documented_errors(comment) == [
        "INVALID_ARGUMENT",
        "FAILED_PRECONDITION",
        "IDEMPOTENCY_KEY_REUSED",
        "NOT_FOUND",
    ]
    assert _documented_errors("No errors section. NOT_FOUND.") == []
    assert summary("First sentence. Second one.\nMore.") == "First sentence."


def test_dialect_routes_have_their_bodies_statuses_and_envelopes(
    document: dict[str, Any],
) -> None:
    push = document["paths"]["/api/v1/ingest/{token}"]["post"]
    assert push["security"] == []
    body = push["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"fields", "related"}
    assert body["additionalProperties"] is False
    assert set(push["responses"]) >= {"200", "400", "404", "413", "422", "429"}
    assert push["responses"]["400"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }

    stream = document["paths"]["/api/ingest"]["post"]
    assert stream["security"] == [{"ingestKey": []}]
    assert "202" in stream["responses"]
    assert "200" not in stream["responses"]
    assert stream["responses"]["401"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/StreamError"}}
    }
    names = [p.get("name") or p["$ref"].rsplit("/", 1)[-1] for p in stream["parameters"]]
    assert names == ["stream", "Idempotency-Key", "X-Item-Key", "X-Stream", "X-Request-Id"]

    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                assert response["headers"]["X-Request-Id"] == {
                    "$ref": "#/components/headers/X-Request-Id"
                }


def test_proto3_json_forms(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    update = schemas["inlet.admin.v1.UpdateFieldResponse"]["properties"]
    assert update["backfilled_keys"]["type"] == "string"  # int64
    endpoint = schemas["inlet.admin.v1.IngestEndpoint"]["properties"]
    assert endpoint["create_time"]["format"] == "date-time"
    record = schemas["inlet.admin.v1.Record"]["properties"]
    assert "type" not in record["values"]  # RawJson: any JSON value
    field = schemas["inlet.type.v1.Field"]["properties"]
    assert field["type"]["enum"][:2] == ["FIELD_TYPE_UNSPECIFIED", "FIELD_TYPE_TEXT"]
    rotate = document["paths"][
        "/admin/v1/workspaces/{workspace}/ingestEndpoints/{ingest_endpoint}:rotateToken"
    ]["post"]
    grace = rotate["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(grace) == {"grace_period"}  # `name` comes from the path
    assert grace["grace_period"]["pattern"].endswith("s$")


# --- an RPC nobody declared anything for -----------------------------------------------------


def _file(module: Any) -> descriptor_pb2.FileDescriptorProto:
    return descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)


def _probe_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="probe/v1/probe.proto",
        package="probe.v1",
        syntax="proto3",
        dependency=[
            "google/api/annotations.proto",
            "google/api/httpbody.proto",
            "google/protobuf/timestamp.proto",
            "google/protobuf/duration.proto",
            "google/protobuf/field_mask.proto",
            "inlet/type/v1/json.proto",
        ],
    )
    F = descriptor_pb2.FieldDescriptorProto
    raw = file.message_type.add(name="RawRequest")
    raw.field.add(name="name", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    raw.field.add(
        name="body",
        number=2,
        type=F.TYPE_MESSAGE,
        type_name=".google.api.HttpBody",
        label=F.LABEL_OPTIONAL,
    )
    thing = file.message_type.add(name="Thing")
    for number, (name, kind, type_name, label) in enumerate(
        [
            ("count", F.TYPE_INT64, "", F.LABEL_OPTIONAL),
            ("since", F.TYPE_MESSAGE, ".google.protobuf.Timestamp", F.LABEL_OPTIONAL),
            ("every", F.TYPE_MESSAGE, ".google.protobuf.Duration", F.LABEL_OPTIONAL),
            ("mask", F.TYPE_MESSAGE, ".google.protobuf.FieldMask", F.LABEL_OPTIONAL),
            ("value", F.TYPE_MESSAGE, ".inlet.type.v1.RawJson", F.LABEL_OPTIONAL),
            ("tags", F.TYPE_STRING, "", F.LABEL_REPEATED),
        ],
        start=1,
    ):
        added = thing.field.add(name=name, number=number, type=kind, label=label)
        if type_name:
            added.type_name = type_name
    service = file.service.add(name="ProbeService")
    method = service.method.add(
        name="Raw", input_type=".probe.v1.RawRequest", output_type=".probe.v1.Thing"
    )
    method.options.Extensions[HTTP_RULE].CopyFrom(
        http_pb2.HttpRule(post="/probe/v1/{name=things/*}:raw", body="body")
    )
    listed = service.method.add(
        name="List", input_type=".probe.v1.Thing", output_type=".probe.v1.Thing"
    )
    listed.options.Extensions[HTTP_RULE].CopyFrom(http_pb2.HttpRule(get="/probe/v1/things"))
    return file


def test_an_undeclared_raw_body_rpc_gets_any_json_and_generic_answers() -> None:
    files = [
        _file(descriptor_pb2),
        _file(http_pb2),
        _file(annotations_pb2),
        _file(any_pb2),
        _file(httpbody_pb2),
        _file(timestamp_pb2),
        _file(duration_pb2),
        _file(field_mask_pb2),
        _file(json_pb2),
        _probe_file(),
    ]
    document = build(descriptor_pb2.FileDescriptorSet(file=files))
    validate(document)

    raw = document["paths"]["/probe/v1/things/{thing}:raw"]["post"]
    schema = raw["requestBody"]["content"]["application/json"]["schema"]
    assert "type" not in schema
    assert "No schema is declared" in schema["description"]
    assert "security" not in raw
    assert set(raw["responses"]) == {"200", "400", "408", "413", "415", "431", "500", "503", "504"}
    assert raw["responses"]["400"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    thing = document["components"]["schemas"]["probe.v1.Thing"]["properties"]
    assert thing["count"]["type"] == "string"
    assert thing["every"]["type"] == "string"
    assert "type" not in thing["value"]
    listed = document["paths"]["/probe/v1/things"]["get"]
    query = {p["name"]: p["schema"] for p in listed["parameters"] if p.get("in") == "query"}
    assert set(query) == {"count", "since", "every", "mask", "tags"}
    assert query["tags"]["type"] == "array"
    assert query["since"]["format"] == "date-time"
