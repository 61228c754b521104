"""PATCH over real HTTP through the gateway, and the CLI's update commands: a change
changes only what was asked (the named update_mask, else exactly the fields sent)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests.e2e.cli_support import new_workspace_cli
from tests.messages import bearer_header, push_url

pytestmark = pytest.mark.e2e


async def read(http: httpx.AsyncClient, seeded: DemoSeed, name: str, key: str) -> dict[str, Any]:
    got = await http.get(f"/admin/v1/{name}", headers=bearer_header(seeded.admin_token))
    assert got.status_code == 200, got.text
    found: dict[str, Any] = got.json()[key]
    return found


def field_of(entity_type: dict[str, Any], slug: str) -> dict[str, Any]:
    fields: list[dict[str, Any]] = entity_type["fields"]
    [found] = [f for f in fields if f["slug"] == slug]
    return found


def refusal(reply: httpx.Response) -> dict[str, Any]:
    """A 400 problem naming update_mask; its one violation."""
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["code"] == "INVALID_ARGUMENT"
    [violation] = body["errors"]
    assert violation["field"] == "update_mask"
    assert isinstance(violation, dict)
    return violation


# --- ingest endpoints ------------------------------------------------------------------------


async def test_endpoint_patch_with_a_mask_in_the_query_changes_only_the_named_fields(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    name = seeded.endpoints["contact"]
    auth = bearer_header(seeded.admin_token)
    before = await read(http, seeded, name, "ingest_endpoint")

    # Comma-separated, and also repeated: grpc-gateway's two forms.
    for query in (
        "update_mask=display_name,rate_limit",
        "update_mask=display_name&update_mask=rate_limit",
    ):
        reply = await http.patch(
            f"/admin/v1/{name}?{query}",
            headers=auth,
            json={"display_name": "Web form", "rate_limit": 77, "rate_window_seconds": 5},
        )
        assert reply.status_code == 200, reply.text

    after = await read(http, seeded, name, "ingest_endpoint")
    assert after == {**before, "display_name": "Web form", "rate_limit": 77}


async def test_endpoint_patch_without_a_mask_changes_exactly_the_fields_sent(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    name = seeded.endpoints["contact"]
    auth = bearer_header(seeded.admin_token)
    before = await read(http, seeded, name, "ingest_endpoint")

    reply = await http.patch(f"/admin/v1/{name}", headers=auth, json={"rate_limit": 40})
    assert reply.status_code == 200, reply.text
    after = await read(http, seeded, name, "ingest_endpoint")
    # The name, the window and enabled were not sent: they stay.
    assert after == {**before, "rate_limit": 40}

    # false is sent, so it is set (the edge names it in the mask for the service).
    disabled = await http.patch(f"/admin/v1/{name}", headers=auth, json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    assert (await read(http, seeded, name, "ingest_endpoint")).get("enabled", False) is False
    refused = await http.post(push_url(seeded, "contact"), json={"fields": {"name": "x"}})
    assert refused.status_code == 404
    await http.patch(f"/admin/v1/{name}", headers=auth, json={"enabled": True})
    assert await read(http, seeded, name, "ingest_endpoint") == {**before, "rate_limit": 40}


@pytest.mark.parametrize(
    ("query", "path", "code"),
    [
        ("update_mask=colour", "colour", "UNKNOWN_FIELD"),
        ("update_mask=rate_limit,token", "token", "UNKNOWN_FIELD"),
        ("update_mask=default_region", "default_region", "IMMUTABLE_FIELD"),
        ("updateMask=entityType", "entityType", "IMMUTABLE_FIELD"),
    ],
)
async def test_endpoint_patch_with_a_bad_mask_path_is_400_naming_it(
    http: httpx.AsyncClient, seeded: DemoSeed, query: str, path: str, code: str
) -> None:
    name = seeded.endpoints["contact"]
    before = await read(http, seeded, name, "ingest_endpoint")

    reply = await http.patch(
        f"/admin/v1/{name}?{query}",
        headers=bearer_header(seeded.admin_token),
        json={"rate_limit": 3, "default_region": "SE", "entity_type": "deal"},
    )

    violation = refusal(reply)
    assert violation["code"] == code
    assert f'"{path}"' in violation["message"]
    assert f'"{path}"' in reply.json()["detail"]
    assert await read(http, seeded, name, "ingest_endpoint") == before


@pytest.mark.parametrize("body", [b"", b"{}", b'{"name": "workspaces/x/ingestEndpoints/y"}'])
async def test_endpoint_patch_that_changes_nothing_is_400(
    http: httpx.AsyncClient, seeded: DemoSeed, body: bytes
) -> None:
    name = seeded.endpoints["contact"]
    before = await read(http, seeded, name, "ingest_endpoint")

    reply = await http.patch(
        f"/admin/v1/{name}",
        headers={**bearer_header(seeded.admin_token), "content-type": "application/json"},
        content=body,
    )

    assert refusal(reply)["code"] == "EMPTY"
    assert await read(http, seeded, name, "ingest_endpoint") == before


# --- fields ----------------------------------------------------------------------------------


async def test_field_patch_changes_only_what_was_asked(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    auth = bearer_header(seeded.admin_token)
    deal = f"{seeded.workspace}/entityTypes/deal"
    title = f"{deal}/fields/title"
    before = await read(http, seeded, deal, "entity_type")
    assert field_of(before, "title")["required"] is True

    # Without a mask: only the display name was sent, so required stays on.
    reply = await http.patch(
        f"/admin/v1/{title}", headers=auth, json={"field": {"display_name": "Deal title"}}
    )
    assert reply.status_code == 200, reply.text
    after = await read(http, seeded, deal, "entity_type")
    assert field_of(after, "title") == {**field_of(before, "title"), "display_name": "Deal title"}

    # With a mask in the query, either spelling: only the named flag changes.
    for query in ("update_mask=required", "update_mask=field.required"):
        reply = await http.patch(
            f"/admin/v1/{title}?{query}",
            headers=auth,
            json={"field": {"required": False, "display_name": "ignored", "unique": True}},
        )
        assert reply.status_code == 200, reply.text
    changed = field_of(await read(http, seeded, deal, "entity_type"), "title")
    assert changed.get("required", False) is False
    assert changed.get("unique", False) is False
    assert changed["display_name"] == "Deal title"

    bad = await http.patch(
        f"/admin/v1/{title}?update_mask=field.type", headers=auth, json={"field": {}}
    )
    assert refusal(bad)["code"] == "IMMUTABLE_FIELD"
    assert '"field.type"' in bad.json()["detail"]


async def test_field_patch_of_one_flag_keeps_the_unique_index(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    auth = bearer_header(seeded.admin_token)
    contact = f"{seeded.workspace}/entityTypes/contact"
    reply = await http.patch(
        f"/admin/v1/{contact}/fields/email", headers=auth, json={"field": {"display_name": "Mail"}}
    )
    assert reply.status_code == 200, reply.text
    assert field_of(await read(http, seeded, contact, "entity_type"), "email")["unique"] is True
    # Still matched on e-mail: the second push updates the first record.
    push = push_url(seeded, "contact")
    first = await http.post(push, json={"fields": {"email": "kari@acme.no"}})
    second = await http.post(push, json={"fields": {"email": "KARI@acme.no", "name": "Kari"}})
    assert second.json()["record"] == {
        "id": first.json()["record"]["id"],
        "action": "updated",
        "matched_on": ["email"],
    }


# --- ingest keys -----------------------------------------------------------------------------


async def test_ingest_key_patch_with_and_without_a_mask(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    auth = bearer_header(seeded.admin_token)
    made = await http.post(
        f"/admin/v1/{seeded.workspace}/streams?stream_id=people",
        headers=auth,
        json={"entity_type": "contact"},
    )
    assert made.status_code == 200, made.text
    stream = made.json()["stream"]["name"]
    created = await http.post(
        f"/admin/v1/{stream}/ingestKeys",
        headers=auth,
        json={"display_name": "crm", "rate_limit": 100, "rate_window_seconds": 30},
    )
    assert created.status_code == 200, created.text
    key = created.json()["ingest_key"]
    name = key["name"]

    masked = await http.patch(
        f"/admin/v1/{name}?update_mask=rate_limit",
        headers=auth,
        json={"rate_limit": 7, "display_name": "not this"},
    )
    assert masked.status_code == 200, masked.text
    assert masked.json()["ingest_key"] == {**key, "rate_limit": 7}

    unmasked = await http.patch(f"/admin/v1/{name}", headers=auth, json={"display_name": "erp"})
    assert unmasked.status_code == 200, unmasked.text
    assert unmasked.json()["ingest_key"] == {**key, "rate_limit": 7, "display_name": "erp"}

    bad = await http.patch(f"/admin/v1/{name}?update_mask=mode", headers=auth, json={})
    assert refusal(bad)["code"] == "IMMUTABLE_FIELD"
    unknown = await http.patch(f"/admin/v1/{name}?update_mask=secret", headers=auth, json={})
    assert '"secret"' in refusal(unknown)["message"]


# --- the CLI ---------------------------------------------------------------------------------


async def test_cli_update_commands_send_exactly_the_options_given(
    stack: Stack, admin: admin_pb2_grpc.AdminServiceAsyncStub
) -> None:
    cli = await new_workspace_cli(stack, admin)
    cli.run("entity-types", "create", "lead", "-f", "email:email:unique", "-f", "name:text")
    made = cli.json("endpoints", "create", "-t", "lead", "--name", "form", "--rate-limit", "50")
    eid = made["ingest_endpoint"]["id"]

    renamed = cli.json("endpoints", "update", eid, "--name", "web form")
    assert (renamed["display_name"], renamed["rate_limit"], renamed["rate_window_seconds"]) == (
        "web form",
        50,
        60,
    )
    assert renamed["enabled"] is True

    shown = cli.json("fields", "set", "lead", "email", "--name", "Work e-mail")
    [email] = [f for f in shown["fields"] if f["slug"] == "email"]
    assert (email["display_name"], email.get("unique")) == ("Work e-mail", True)
    shown = cli.json("fields", "set", "lead", "name", "--required")
    [name] = [f for f in shown["fields"] if f["slug"] == "name"]
    assert (name["display_name"], name.get("required")) == ("name", True)

    cli.run("streams", "create", "leads", "--entity-type", "lead")
    key = cli.json("streams", "keys", "create", "leads", "--name", "crm", "--rate-limit", "90")[
        "ingest_key"
    ]
    key_id = key["name"].rsplit("/", 1)[1]
    [changed] = cli.json("streams", "keys", "update", "leads", key_id, "--rate-window", "2m")
    assert (changed["display_name"], changed["rate_limit"], changed["rate_window_seconds"]) == (
        "crm",
        90,
        120,
    )
    [changed] = cli.json("streams", "keys", "set-rate-limit", "leads", key_id, "--limit", "9")
    # The window was not given: it stays.
    assert (changed["rate_limit"], changed["rate_window_seconds"]) == (9, 120)
    [changed] = cli.json("streams", "keys", "update", "leads", key_id, "--name", "erp")
    assert (changed["display_name"], changed["rate_limit"]) == ("erp", 9)

    nothing = cli.refused("streams", "keys", "update", "leads", key_id, check=2)
    assert "nothing to change" in nothing
