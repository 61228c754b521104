"""The `inlet` CLI as a subprocess against the running suite: set up, push, inspect, import."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_devstack.stack import Stack
from tests.e2e.cli_support import Cli, new_workspace_cli

pytestmark = pytest.mark.e2e


@pytest.fixture
async def cli(stack: Stack, admin: admin_pb2_grpc.AdminServiceAsyncStub) -> Cli:
    return await new_workspace_cli(stack, admin)


def endpoint_id(created: dict[str, Any]) -> str:
    return str(created["ingest_endpoint"]["id"])


async def test_set_up_push_inspect_disable_rotate(cli: Cli, http: httpx.AsyncClient) -> None:
    made = cli.json(
        "entity-types",
        "create",
        "person",
        "-f",
        "name:text",
        "-f",
        "email:email:unique",
        "-f",
        "phone:phone:unique",
        "-f",
        "age:number",
    )
    assert [f["slug"] for f in made["fields"]] == ["name", "email", "phone", "age"]
    created = cli.json("endpoints", "create", "-t", "person", "--region", "NO")
    url, eid = created["url"], endpoint_id(created)
    assert url.startswith(f"{http.base_url}/api/v1/ingest/iep_".replace("//api", "/api"))

    example = cli.json("endpoints", "example", eid)
    assert example["payload"]["fields"]["age"] == 42
    assert {f["path"]: f.get("unique", False) for f in example["fields"]}["fields.email"]

    pushed = await http.post(url, json={"fields": {"name": "Ola", "email": "OLA@Acme.no"}})
    assert pushed.status_code == 200
    record_id = pushed.json()["record"]["id"]
    bad = await http.post(url, json={"fields": {"email": "nope"}})
    assert bad.status_code == 400

    log = cli.json("endpoints", "log", eid)["activity_entries"]
    assert [e["status_code"] for e in log] == [400, 200]
    assert log[1]["outcome"]["record"] == {"id": record_id, "action": "created"}
    errors_only = cli.json("endpoints", "log", eid, "--errors")["activity_entries"]
    assert [e["status_code"] for e in errors_only] == [400]
    table = cli.run("endpoints", "log", eid).stdout
    assert "record created" in table
    assert "INVALID_EMAIL" in table or "VALIDATION_FAILED" in table

    found = cli.json("records", "find", "person", "email", " ola@ACME.no ")
    assert found["id"] == record_id
    assert cli.json("records", "get", "person", record_id)["values"]["email"] == "ola@acme.no"
    assert [r["id"] for r in cli.json("records", "list", "person")] == [record_id]

    cli.run("endpoints", "disable", eid)
    assert (await http.post(url, json={"fields": {"name": "x"}})).status_code == 404
    cli.run("endpoints", "enable", eid)
    assert (await http.post(url, json={"fields": {"name": "x"}})).status_code == 200

    rotated = cli.json("endpoints", "rotate", eid)
    assert (await http.post(url, json={"fields": {"name": "x"}})).status_code == 404
    new_url = rotated["url"]
    assert (await http.post(new_url, json={"fields": {"name": "y"}})).status_code == 200

    graced = cli.json("endpoints", "rotate", eid, "--grace", "10m")
    assert graced["ingest_endpoint"]["previous_token_expire_time"]
    assert (await http.post(new_url, json={"fields": {"name": "z"}})).status_code == 200
    assert (await http.post(graced["url"], json={"fields": {"name": "w"}})).status_code == 200
    newest = cli.json("endpoints", "log", eid, "--limit", "2")["activity_entries"]
    assert [e.get("previous_token", False) for e in newest] == [False, True]


async def test_unique_on_duplicates_is_refused_with_the_groups(
    cli: Cli, http: httpx.AsyncClient
) -> None:
    cli.json("entity-types", "create", "lead", "-f", "email:email:unique", "-f", "city:text")
    url = cli.json("endpoints", "create", "-t", "lead")["url"]
    ids = []
    for email, city in [("a@x.no", "Oslo"), ("b@x.no", " Oslo"), ("c@x.no", "Bergen")]:
        answer = await http.post(url, json={"fields": {"email": email, "city": city}})
        ids.append(answer.json()["record"]["id"])

    refused = cli.run("fields", "set", "lead", "city", "--unique", check=5)
    assert "DUPLICATE_VALUES" in refused.stderr
    assert "'Oslo'" in refused.stderr
    assert ids[0] in refused.stderr
    assert ids[1] in refused.stderr

    first = await http.post(url, json={"fields": {"email": "b@x.no", "city": "Trondheim"}})
    assert first.status_code == 200
    changed = cli.json("fields", "set", "lead", "city", "--unique")
    assert next(f for f in changed["fields"] if f["slug"] == "city")["unique"] is True
    assert cli.json("records", "find", "lead", "city", "Bergen")["id"] == ids[2]
    # The backfilled index is the one ingest matches on.
    again = await http.post(url, json={"fields": {"city": "Trondheim", "email": "q@x.no"}})
    assert again.json()["record"] == {"id": ids[1], "action": "updated", "matched_on": ["city"]}


async def test_errors_are_one_line_with_meaningful_exit_codes(cli: Cli) -> None:
    wrong = Cli({**cli.env, "INLET_ADMIN_TOKEN": "adm_" + "x" * 43}, "")
    denied = wrong.run("entity-types", "list", check=4)
    assert denied.stderr.strip().count("\n") == 0
    assert "ADMIN_TOKEN_INVALID" in denied.stderr
    assert "x" * 43 not in denied.stderr + denied.stdout

    missing = cli.run("entity-types", "show", "nope", check=3)
    assert "ENTITY_TYPE_NOT_FOUND" in missing.stderr
    bad = cli.run("entity-types", "create", "Bad Slug", "-f", "a:text", check=5)
    assert "entity_type.slug" in bad.stderr
    cli.run("endpoints", "rotate", "x", "--grace", "soon", check=2)
    no_token = Cli({k: v for k, v in cli.env.items() if k != "INLET_ADMIN_TOKEN"}, "")
    assert "INLET_ADMIN_TOKEN" in no_token.run("entity-types", "list", check=2).stderr


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def members(stack: Stack, cli: Cli) -> int:
    """How many member records the CLI's workspace holds."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM records r"
            "  JOIN entity_types t ON t.id = r.entity_type_id"
            "  JOIN workspaces w ON w.id = t.workspace_id"
            " WHERE w.slug = %s AND t.slug = 'member'",
            (cli.env["INLET_WORKSPACE"],),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_import_10k_rows_reports_bad_rows_and_stores_good_ones(
    cli: Cli, stack: Stack, tmp_path: Path
) -> None:
    cli.json("entity-types", "create", "member", "-f", "email:email:unique", "-f", "score:number")
    # Above the default 6000/min, so the import is not paced by 429s (tested on their own).
    created = cli.json("endpoints", "create", "-t", "member", "--rate-limit", "100000")
    rows: list[list[Any]] = [[f"m{i}@example.com", str(i)] for i in range(10_000)]
    bad = {17: "not-an-email", 4242: "@@", 9999: "also bad@"}
    for index, email in bad.items():
        rows[index][0] = email
    rows[500][1] = "many"  # a score that is not a number
    source = tmp_path / "members.csv"
    write_csv(source, ["email", "score"], rows)

    # A loaded machine may take many minutes: the import counts as hung only while no
    # record is added.
    done = cli.run(
        "import",
        str(source),
        "--endpoint",
        created["url"],
        "--entity-type",
        "member",
        check=1,
        progress=lambda: members(stack, cli),
    )
    assert "10000/10000" in done.stderr  # the progress bar's last state
    assert "rows" in done.stdout
    assert "failed" in done.stdout
    failed_file = tmp_path / "members.failed.csv"
    with failed_file.open() as handle:
        failed = list(csv.DictReader(handle))
    assert sorted(int(r["score"]) if r["score"].isdigit() else -1 for r in failed) == sorted(
        [-1, 17, 4242, 9999]
    )
    assert all(r["_error"] for r in failed)
    assert "9996" in done.stdout

    # Fix the rows and import the failed file again: all of them land.
    for r in failed:
        r["email"] = f"fixed{r['score']}@example.com"
        r["score"] = "1"
    write_csv(failed_file, ["email", "score", "_error"], [list(r.values()) for r in failed])
    again = cli.json(
        "import", str(failed_file), "--endpoint", created["url"], "--entity-type", "member"
    )
    assert again == {"rows": 4, "created": 4, "updated": 0, "failed": 0, "failed_file": None}
    page = cli.json("records", "list", "member", "--limit", "1")
    assert len(page) == 1
    found = cli.json("records", "find", "member", "email", "M1234@example.com")
    assert found["values"] == {"email": "m1234@example.com", "score": 1234}
