"""`inlet endpoints … --rate-limit/--rate-window` as a subprocess against the running suite."""

from __future__ import annotations

from typing import Any

import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_devstack.stack import Stack
from tests.e2e.cli_support import Cli, new_workspace_cli

pytestmark = pytest.mark.e2e


@pytest.fixture
async def cli(stack: Stack, admin: admin_pb2_grpc.AdminServiceAsyncStub) -> Cli:
    cli = await new_workspace_cli(stack, admin)
    cli.json("entity-types", "create", "lead", "-f", "email:email:unique")
    return cli


def rate(endpoint: dict[str, Any]) -> tuple[int, int]:
    return endpoint["rate_limit"], endpoint["rate_window_seconds"]


async def test_create_show_list_and_update_the_rate_limit(cli: Cli) -> None:
    made = cli.json(
        "endpoints", "create", "-t", "lead", "--rate-limit", "120", "--rate-window", "2m"
    )
    eid = made["ingest_endpoint"]["id"]
    assert rate(made["ingest_endpoint"]) == (120, 120)
    assert "120/2m" in cli.run("endpoints", "show", eid).stdout
    assert rate(cli.json("endpoints", "show", eid)) == (120, 120)

    plain = cli.json("endpoints", "create", "-t", "lead", "--name", "plain")["ingest_endpoint"]
    assert rate(plain) == (6000, 60)
    table = cli.run("endpoints", "list").stdout
    assert "rate limit" in table
    assert "120/2m" in table
    assert "6000/1m" in table
    assert {e["id"]: rate(e) for e in cli.json("endpoints", "list")} == {
        eid: (120, 120),
        plain["id"]: (6000, 60),
    }

    # Each option changes only its own setting; a bare number of seconds is a window too.
    shown = cli.run("endpoints", "update", eid, "--rate-limit", "30").stdout
    assert "30/2m" in shown
    assert rate(cli.json("endpoints", "update", eid, "--rate-window", "45")) == (30, 45)
    changed = cli.json(
        "endpoints", "update", eid, "--name", "crm", "--rate-limit", "10", "--rate-window", "1h"
    )
    assert (changed["display_name"], *rate(changed)) == ("crm", 10, 3600)
    assert rate(cli.json("endpoints", "show", eid)) == (10, 3600)
    assert rate(cli.json("endpoints", "show", plain["id"])) == (6000, 60)


async def test_bad_rate_values_are_one_line_errors_and_change_nothing(cli: Cli) -> None:
    eid = cli.json("endpoints", "create", "-t", "lead", "--rate-limit", "50")["ingest_endpoint"][
        "id"
    ]
    before = cli.json("endpoints", "list")

    # What the CLI can tell by itself is a usage error (2) in exactly one line.
    for args in [
        ("update", eid, "--rate-limit", "0"),
        ("update", eid, "--rate-limit", "-5"),
        ("update", eid, "--rate-window", "soon"),
        ("update", eid, "--rate-window", "1.5s"),
        ("update", eid, "--rate-window", "0"),
        ("update", eid),
        ("create", "-t", "lead", "--rate-limit", "0"),
    ]:
        stderr = cli.refused("endpoints", *args, check=2)
        assert stderr.strip().count("\n") == 0, stderr
    assert "--rate-limit" in cli.refused("endpoints", "update", eid, "--rate-limit", "0", check=2)
    assert "--rate-window" in cli.refused(
        "endpoints", "update", eid, "--rate-window", "soon", check=2
    )

    # Out of the API's range: refused by the store (5), naming the field.
    too_many = cli.refused("endpoints", "update", eid, "--rate-limit", "2000000", check=5)
    assert "ingest_endpoint.rate_limit" in too_many.splitlines()[0]
    too_long = cli.refused("endpoints", "update", eid, "--rate-window", "2d", check=5)
    assert "ingest_endpoint.rate_window_seconds" in too_long.splitlines()[0]
    on_create = cli.refused("endpoints", "create", "-t", "lead", "--rate-limit", "1000001", check=5)
    assert "ingest_endpoint.rate_limit" in on_create
    missing = cli.refused("endpoints", "update", "nope", "--rate-limit", "5", check=3)
    assert "ENDPOINT_NOT_FOUND" in missing

    assert cli.json("endpoints", "list") == before
