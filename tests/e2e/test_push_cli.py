"""`inlet api-keys` and `inlet sessions` as an operator runs them: keys shown once and
rotated, sessions made, shown, changed, exemplified and logged, bad input refused in one
line with the field named."""

from __future__ import annotations

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_devstack.stack import Stack
from tests.e2e.cli_support import Cli, new_workspace_cli
from tests.push_support import seed_body

pytestmark = pytest.mark.e2e


@pytest.fixture
async def cli(stack: Stack, admin: admin_pb2_grpc.AdminServiceAsyncStub) -> Cli:
    return await new_workspace_cli(stack, admin)


async def test_api_keys_are_made_listed_rotated_and_revoked(cli: Cli) -> None:
    made = cli.json("api-keys", "create", "--name", "backend", "--rate-limit", "50")
    secret = made["secret"]
    assert secret.startswith("ak_")
    prefix = made["api_key"]["prefix"]
    table = cli.run("api-keys", "list").stdout
    assert prefix in table
    assert "50/1m" in table
    assert secret not in table
    rotated = cli.json("api-keys", "rotate", prefix, "--grace", "10m")
    assert rotated["secret"] != secret
    assert "revoked" in cli.run("api-keys", "revoke", rotated["api_key"]["prefix"]).stdout
    shown = cli.run("api-keys", "create")
    assert "This key is shown once" in shown.stderr


async def test_a_session_is_made_and_its_curl_works(
    cli: Cli, stack: Stack, http: httpx.AsyncClient
) -> None:
    made = cli.json(
        "sessions",
        "create",
        "--type",
        "crm-contact",
        "--type",
        "crm-company",
        "--name",
        "CRM",
        "--completed-webhook",
        "https://example.com/done",
        "--webhook-metadata",
        '{"user_id": 1}',
    )
    session = made["session"]
    assert made["webhook_secret"].startswith("whsec_")
    assert session["completed_webhook"] == {
        "endpoint": "https://example.com/done",
        "metadata": {"user_id": 1},
    }
    table = cli.run("sessions", "list").stdout
    assert session["session_id"][:8] in table
    assert "crm-contact, crm-company" in table
    key = cli.json("api-keys", "create")["secret"]
    answer = await http.post(
        "/api/push/transfer",
        json=seed_body(session["session_id"]),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200, answer.text
    log = cli.run("sessions", "log", session["session_id"]).stdout
    assert answer.json()["transfer_id"][:8] in log
    example = cli.run("sessions", "example", session["session_id"], "--type", "crm-company")
    assert '"endgrate_type": "crm-company"' in example.stdout
    assert "transfer_data[0].data.domain" in example.stdout
    changed = cli.json("sessions", "update", session["session_id"], "--name", "CRM 2")
    assert changed[0]["display_name"] == "CRM 2"
    assert changed[0]["types"] == session["types"]
    cli.run("sessions", "delete", session["session_id"])
    cli.refused("sessions", "show", session["session_id"], check=3)


async def test_a_custom_type_maps_fields_and_bad_input_is_one_line(cli: Cli) -> None:
    cli.run("entity-types", "create", "lead", "-f", "name:text", "-f", "email:email:unique")
    made = cli.json(
        "sessions",
        "create",
        "--type",
        "my-lead=lead",
        "--map",
        "my-lead.full_name=name",
        "--map",
        "my-lead.work_email=email",
    )
    (kind,) = made["session"]["types"]
    assert kind == {
        "endgrate_type": "my-lead",
        "entity_type": "lead",
        "field_map": {"full_name": "name", "work_email": "email"},
    }
    error = cli.refused("sessions", "create", "--type", "my-deal=nothing", check=5)
    assert "session.types[0].entity_type" in error
    error = cli.refused("sessions", "create", "--type", "x=lead", "--map", "x.a=zz", check=5)
    assert "session.types[0].field_map.a" in error
    usage = cli.run("sessions", "create", check=2)
    assert "--type" in usage.stderr
