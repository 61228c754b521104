"""The `inlet` CLI for people: 80-column tables with short ids (full with --wide or -o json),
one duration form in and out, errors said once in the API's words (no constraint names)."""

from __future__ import annotations

import re
from typing import Any

import grpc
import httpx
import pytest

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet.type.v1 import entity_pb2
from inlet_common.errors import status_from_rpc_error, violations_of
from inlet_devstack import demo
from inlet_devstack.stack import Stack
from tests.e2e.cli_support import Cli, new_workspace_cli
from tests.webhook_receiver import receiving

pytestmark = pytest.mark.e2e

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
async def cli(stack: Stack, admin: admin_pb2_grpc.AdminServiceAsyncStub) -> Cli:
    cli = await new_workspace_cli(stack, admin)
    cli.run(
        "entity-types",
        "create",
        "contact",
        "--name",
        "Contact person",
        "-f",
        "name:text",
        "-f",
        "email:email:unique",
        "-f",
        "phone:phone:unique",
    )
    return cli


def narrow(cli: Cli) -> Cli:
    return Cli({**cli.env, "COLUMNS": "80"}, cli.token)


def assert_fits(text: str) -> None:
    too_long = [line for line in text.splitlines() if len(line) > 80]
    assert not too_long, too_long


async def pushed(http: httpx.AsyncClient, url: str, **fields: Any) -> str:
    answer = await http.post(url, json={"fields": fields})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["record"]["id"])


async def test_tables_fit_80_columns_with_short_ids_and_wide_shows_them_whole(
    cli: Cli, http: httpx.AsyncClient
) -> None:
    made = cli.json(
        "endpoints", "create", "-t", "contact", "--name", "Web form of the spring campaign"
    )
    eid, url = made["ingest_endpoint"]["id"], made["url"]
    record = await pushed(http, url, name="Ola Nordmann", email="ola@acme.no")
    assert (await http.post(url, json={"fields": {"email": "nope"}})).status_code == 400
    # .invalid never resolves: accepted (delivery checks again), never delivered to.
    hook = cli.json("webhooks", "create", "https://hooks.invalid/inlet")["webhook_endpoint"]
    hook_id = hook["name"].rsplit("/", 1)[-1]
    eighty = narrow(cli)

    tables = {
        ("endpoints", "list"): [eid],
        ("endpoints", "show", eid): [eid],
        ("endpoints", "log", eid): [record],
        ("records", "list", "contact"): [record],
        ("records", "get", "contact", record): [record],
        ("records", "find", "contact", "email", "OLA@acme.no"): [record],
        ("entity-types", "show", "contact"): [],
        ("webhooks", "list"): [hook_id],
    }
    for args, ids in tables.items():
        table = eighty.run(*args).stdout
        assert_fits(table)
        assert not UUID.search(table), (args, table)  # no id shown whole, so none wrapped
        for full in ids:
            assert re.search(rf"(^|\s){full[:8]}(\s|$)", table), (args, table)
        wide = eighty.run(*args, "--wide").stdout
        for full in ids:
            assert any(full in line for line in wide.splitlines()), (args, wide)
        also_wide = eighty.run("-o", "wide", *args).stdout
        assert all(full in also_wide for full in ids)
    # Request ids are shortened alike, and whole in JSON.
    log = eighty.run("endpoints", "log", eid).stdout
    request_ids = [e["request_id"] for e in cli.json("endpoints", "log", eid)["activity_entries"]]
    assert all(f"{r[:12]} " in log and r not in log for r in request_ids)
    assert cli.json("endpoints", "show", eid)["id"] == eid
    assert (
        eighty.run("endpoints", "list", "-o", "json").stdout
        == cli.run("--json", "endpoints", "list").stdout
    )


async def test_short_ids_are_accepted_where_a_full_one_is(
    cli: Cli, http: httpx.AsyncClient
) -> None:
    first = cli.json("endpoints", "create", "-t", "contact", "--name", "a")["ingest_endpoint"]
    record = await pushed(http, cli.json("endpoints", "create", "-t", "contact")["url"], name="x")
    assert cli.json("endpoints", "show", first["id"][:8])["id"] == first["id"]
    assert cli.json("records", "get", "contact", record[:6])["id"] == record
    cli.run("endpoints", "disable", first["id"][:8])
    assert "enabled" not in cli.json("endpoints", "show", first["id"])  # false: left out

    missing = cli.refused("endpoints", "show", "ffff0000", check=3)
    assert "ENDPOINT_NOT_FOUND" in missing
    assert "ffff0000" in missing
    assert "RECORD_NOT_FOUND" in cli.refused("records", "get", "contact", "ffff0000", check=3)


async def test_durations_are_written_one_way_in_and_out(cli: Cli) -> None:
    made = cli.json("endpoints", "create", "-t", "contact", "--rate-window", "90s")
    eid = made["ingest_endpoint"]["id"]
    assert made["ingest_endpoint"]["rate_window_seconds"] == 90
    assert "6000/1m30s" in cli.run("endpoints", "show", eid).stdout
    assert "/1h" in cli.run("endpoints", "update", eid, "--rate-window", "60m").stdout
    assert cli.json("endpoints", "rotate", eid, "--grace", "10m")["ingest_endpoint"][
        "previous_token_expire_time"
    ]

    cli.run("streams", "create", "leads", "--entity-type", "contact")
    key = cli.json("streams", "keys", "create", "leads", "--window", "2m", "--rate-limit", "10")
    assert key["ingest_key"]["rate_window_seconds"] == 120
    key_id = key["ingest_key"]["name"].rsplit("/", 1)[-1]
    assert "10/2m" in cli.run("streams", "keys", "list", "leads").stdout
    limited = cli.run(
        "streams", "keys", "set-rate-limit", "leads", key_id, "--limit", "5", "--window", "90s"
    ).stdout
    assert "5/1m30s" in limited
    assert cli.json("streams", "keys", "rotate", "leads", key_id, "--grace", "1h")["secret"]

    for args in [
        ("streams", "keys", "create", "leads", "--window", "soon"),
        ("streams", "keys", "rotate", "leads", key_id, "--grace", "ten minutes"),
        ("endpoints", "update", eid, "--rate-window", "1.5s"),
    ]:
        stderr = cli.refused(*args, check=2)
        assert "90s" in stderr or "whole number" in stderr
        assert stderr.strip().count("\n") == 0


async def test_a_taken_name_is_one_clear_line_without_the_constraint_name(
    cli: Cli, admin: admin_pb2_grpc.AdminServiceAsyncStub
) -> None:
    cli.run("streams", "create", "leads", "--entity-type", "contact")
    for args, said in [
        (
            ("entity-types", "create", "contact", "-f", "name:text"),
            "an entity type with slug 'contact' already exists in this workspace",
        ),
        (
            ("streams", "create", "leads", "--entity-type", "contact"),
            "a stream with id 'leads' already exists in this workspace",
        ),
        (
            ("fields", "add", "contact", "email"),
            "a field with slug 'email' already exists on this entity type",
        ),
    ]:
        stderr = cli.refused(*args, check=5)
        assert stderr == f"error: ALREADY_EXISTS: {said}\n", stderr
        assert not re.search(r"_key\b|_pkey\b|violates", stderr)

    # The API says it once too, naming the request's field.
    workspace = f"workspaces/{cli.env['INLET_WORKSPACE']}"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.CreateEntityType(
            admin_pb2.CreateEntityTypeRequest(
                parent=workspace, entity_type=entity_pb2.EntityType(slug="contact")
            ),
            metadata=demo.bearer(cli.token),
        )
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    status = status_from_rpc_error(refused.value)
    assert "entity_types_workspace_id_slug_key" not in status.message
    assert [v.field for v in violations_of(status)] == ["entity_type.slug"]


async def test_records_find_says_once_that_the_region_is_missing(
    cli: Cli, http: httpx.AsyncClient
) -> None:
    url = cli.json("endpoints", "create", "-t", "contact", "--region", "NO")["url"]
    record = await pushed(http, url, name="Ola", phone="998 87 766")

    # Read without a region, the number cannot be (or is not) the stored +4799887766:
    # refused (5) or not found (3), one line either way, saying the region is what is missing.
    done = cli.run("records", "find", "contact", "phone", "99887766", check=None)
    assert done.returncode in (3, 5), done
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "give a region (e.g. NO)" in done.stderr
    assert done.stderr.count("region (e.g. NO)") == 1
    if done.returncode == 5:
        assert done.stderr.startswith("error: REGION_REQUIRED: '99887766' has no country code")

    found = cli.json("records", "find", "contact", "phone", "99887766", "--region", "NO")
    assert found["id"] == record
    assert cli.json("records", "find", "contact", "phone", "+47 998 87 766")["id"] == record


async def test_an_error_names_each_field_once(cli: Cli) -> None:
    stderr = cli.refused("streams", "create", "x", "--entity-type", "nope", check=5)
    assert stderr.count("no entity type 'nope'") == 1, stderr


async def test_the_production_default_refuses_loopback_webhook_targets(cli: Cli) -> None:
    """The suite's stack runs as production does: INLET_WEBHOOK_ALLOW_PRIVATE unset."""
    async with receiving() as receiver:
        stderr = cli.refused("webhooks", "create", receiver.script("/h"), check=5)
    assert "WEBHOOK_TARGET_PRIVATE" in stderr
    assert "INLET_WEBHOOK_ALLOW_PRIVATE" in stderr
    assert cli.json("webhooks", "list") == []
