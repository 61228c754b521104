"""`inlet integrations …`, `inlet project-tokens …` and `inlet client-tokens …` as a
subprocess against the running suite: set up integration ingest, push through it, read
its log, and every refusal in one line with the exit code of its kind."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_devstack.stack import Stack
from tests.e2e.cli_support import new_workspace_cli
from tests.external_support import TYPEFORM_EXAMPLE, ProjectToken, finished

pytestmark = pytest.mark.e2e


async def test_integrations_and_tokens_from_the_cli(
    stack: Stack,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    cli = await new_workspace_cli(stack, admin)
    cli.run(
        "entity-types", "create", "person",
        "-f", "name:text", "-f", "email:email:unique", "-f", "phone:phone:unique",
    )  # fmt: skip
    made = cli.json("integrations", "create", "leads", "--type", "typeform", "-t", "person")
    assert made["id"] == "leads"
    assert made["type"] == "TYPEFORM"
    shown = cli.run("integrations", "show", "leads").stdout
    assert f"POST {stack.gateway_url}/api/v1/external/data-ingestion/leads" in shown
    assert "leads" in cli.run("integrations", "list").stdout

    token = cli.json("project-tokens", "create", "--name", "site")
    assert token["secret"].startswith("pat_")
    server = ProjectToken(token["project_token"]["name"], token["secret"])
    answer = await http.post(
        "/api/v1/external/data-ingestion/leads", json=TYPEFORM_EXAMPLE, headers=server.headers()
    )
    assert answer.status_code == 202, answer.text
    await finished(http, server, answer.headers["x-request-id"])
    [entry] = cli.json("integrations", "log", "leads")
    assert entry["request_id"] == answer.headers["x-request-id"]
    assert entry["status"] == "completed"
    assert answer.headers["x-request-id"][:12] in cli.run("integrations", "log", "leads").stdout

    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps(TYPEFORM_EXAMPLE))
    tested = cli.run("integrations", "test-mapping", "leads", str(sample)).stdout
    assert 'email="laura@example.com"' in tested

    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps({"fields": {"email": "/email", "phone": {"constant": "+4799887766"}}})
    )
    updated = cli.json(
        "integrations", "update", "leads", "--mapping", str(mapping), "--rate-limit", "10"
    )
    assert updated["rate_limit"] == 10
    assert updated["mapping"]["fields"]["phone"] == {"constant": "+4799887766"}
    assert cli.json("integrations", "update", "leads", "--no-mapping").get("mapping") is None
    assert cli.json("integrations", "disable", "leads").get("enabled", False) is False
    assert cli.json("integrations", "enable", "leads")["enabled"] is True

    token_id = server.id
    listed = cli.run("project-tokens", "list").stdout
    assert token_id in listed
    assert "active" in listed
    rotated = cli.json("project-tokens", "rotate", token_id[:6], "--grace", "10m")
    assert rotated["secret"].startswith("pat_")
    assert "expires" in cli.run("project-tokens", "list").stdout
    pings = cli.json("project-tokens", "log", token_id)
    assert {e["route"] for e in pings} >= {"data_ingestion", "status"}
    assert cli.json("project-tokens", "revoke", token_id)[0]["revoke_time"]

    form = cli.json(
        "client-tokens", "create", "-t", "person", "--origin", "https://www.example.com",
        "--rate-limit", "5",
    )  # fmt: skip
    assert form["secret"].startswith("pct_")
    form_id = form["client_token"]["name"].rsplit("/", 1)[-1]
    changed = cli.json("client-tokens", "update", form_id, "--origin", "https://shop.example")
    assert changed[0]["allowed_origins"] == ["https://shop.example"]
    assert changed[0]["rate_limit"] == 5
    assert "https://shop.example" in cli.run("client-tokens", "list").stdout
    assert cli.json("client-tokens", "log", form_id) == []
    assert cli.json("client-tokens", "revoke", form_id)[0]["revoke_time"]

    cli.run("integrations", "delete", "leads")
    assert cli.json("integrations", "list") == []


async def test_refusals_are_one_line_with_the_exit_code_of_their_kind(
    stack: Stack, admin: admin_pb2_grpc.AdminServiceAsyncStub, tmp_path: Path
) -> None:
    cli = await new_workspace_cli(stack, admin)
    cli.run("entity-types", "create", "person", "-f", "email:email:unique")
    other = cli.refused("integrations", "create", "x", "--type", "other", "-t", "person", check=5)
    assert "INTEGRATION_TYPE_NOT_SUPPORTED: Integration type 'OTHER' is not supported" in other
    bad = tmp_path / "bad.json"
    bad.write_text('{"fields": {"colour": "/c"}}')
    stderr = cli.refused(
        "integrations", "create", "m", "--type", "MAPPING", "-t", "person", "--mapping", str(bad),
        check=5,
    )  # fmt: skip
    assert "integration.mapping.fields.colour" in stderr
    notjson = tmp_path / "not.json"
    notjson.write_text("{")
    assert "is not JSON" in cli.refused(
        "integrations", "create", "m", "--type", "MAPPING", "-t", "person", "--mapping",
        str(notjson), check=2,
    )  # fmt: skip
    assert "INTEGRATION_NOT_FOUND" in cli.refused("integrations", "show", "ghost", check=3)
    assert "nothing to change" in cli.refused("integrations", "update", "ghost", check=2)
    assert "PROJECT_TOKEN_NOT_FOUND" in cli.refused("project-tokens", "revoke", "ab12", check=3)
    assert "--grace" in cli.refused("project-tokens", "rotate", "ab12", "--grace", "soon", check=2)
    stderr = cli.refused(
        "client-tokens", "create", "-t", "person", "--origin", "www.example.com", check=5
    )
    assert "client_token.allowed_origins[0]" in stderr
