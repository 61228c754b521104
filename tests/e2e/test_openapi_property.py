"""The served OpenAPI document holds for generated requests: schemathesis sends them over
real HTTP through the gateway to the whole stack, and every answer is documented."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from inlet_gateway import docs
from tests.stream_support import SalesStream, sales_stream

pytestmark = pytest.mark.e2e

# No 5xx, and nothing outside the document: status codes, content types, bodies, headers,
# the 405 and Allow of undocumented methods, 401 without the declared credential.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
)
# Not checked, by design: negative_data_rejection (in proto3 JSON `null` means a field's
# default, and a repeated stream Idempotency-Key replays whatever the body, as the seed
# says), missing_required_header (on admin routes the edge judges a request's shape before
# the service judges its credential, as Envoy's transcoder does) and
# positive_data_acceptance (what a push may hold depends on the entity type).
# Per operation and phase: bounded so the run takes about half a minute (~2,000 requests,
# most of them the coverage phase's boundary and wrong-type values).
MAX_EXAMPLES = 4
SEED = 20261201
# Operations that could subscribe a webhook URL: schemathesis gets them only for a
# workspace its token cannot reach, so no generated URL is ever sent a delivery.
NO_WEBHOOK_TARGETS = ("CreateWebhookEndpoint", "UpdateWebhookEndpoint")


def _toml(value: Any) -> str:
    # JSON strings, numbers and arrays of them are valid TOML values.
    return json.dumps(value)


def _last(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def schemathesis_config(seed: DemoSeed, stream: SalesStream) -> str:
    workspace = seed.workspace.removeprefix("workspaces/")
    lines = [
        "[auth.openapi.adminToken]",
        f"bearer = {_toml(seed.admin_token)}",
        "[auth.openapi.ingestKey]",
        f"bearer = {_toml(stream.key)}",
        # Real resources, so requests get past "not found" into each RPC's own checks.
        "[parameters]",
        f'"path.workspace" = {_toml(workspace)}',
        f'"path.token" = {_toml(seed.tokens["contact"])}',
        '"path.entity_type" = "contact"',
        '"path.field" = "name"',
        # The deal endpoint: rotating or deleting it leaves the contact token above working.
        f'"path.ingest_endpoint" = {_toml(_last(seed.endpoints["deal"]))}',
        f'"path.stream" = {_toml(stream.slug)}',
    ]
    for operation_id in NO_WEBHOOK_TARGETS:
        lines += [
            "[[operations]]",
            f"include-operation-id = {_toml(operation_id)}",
            "[operations.parameters]",
            '"path.workspace" = "not-this-token-s"',
        ]
    return "\n".join(lines) + "\n"


async def test_generated_requests_get_no_5xx_and_only_documented_answers(
    stack: Stack,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: Any,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    stream = await sales_stream(admin, streams_admin, seeded)
    served = await http.get("/openapi.json")
    assert served.status_code == 200
    assert served.content == docs.load_document()
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(seeded, stream))
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{stack.gateway_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--phases",
        "examples,coverage,fuzzing",
        "--generation-database",
        "none",
        # One worker: Hypothesis describing strategies from two threads at once trips a
        # CPython 3.11 ast.parse bug ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--suppress-health-check",
        "all",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    finally:
        if process.returncode is None:  # timed out: stop it, the test fails on its own
            process.kill()
            await process.wait()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-30000:]
    assert "No issues found" in text or "passed" in text, text[-5000:]
