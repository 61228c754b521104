"""The integration admin API over HTTP through the gateway: integrations (mappings as JSON
values, update masks, the mapping test), project and client tokens, the activity log, and
every bad input refused naming its field, changing nothing."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests import external_support as ext
from tests.external_support import ORDER, PERSON, TYPEFORM_EXAMPLE

pytestmark = pytest.mark.e2e


@pytest.fixture
async def workspace(stack: Stack, seeded: DemoSeed) -> DemoSeed:
    async with channel(stack.address("store")) as ch:
        admin = admin_pb2_grpc.AdminServiceStub(ch)
        await ext.ensure_type(admin, seeded, PERSON)
        await ext.ensure_type(admin, seeded, ORDER)
    return seeded


def admin(seed: DemoSeed) -> dict[str, str]:
    return {"Authorization": f"Bearer {seed.admin_token}"}


def problem_fields(got: httpx.Response) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in got.json().get("errors", [])]


async def create(
    http: httpx.AsyncClient, seed: DemoSeed, integration_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await http.post(
        f"/admin/v1/{seed.workspace}/integrations",
        params={"integration_id": integration_id},
        json=body,
        headers=admin(seed),
    )


ORDERS_MAPPING = {
    "items": "/orders",
    "fields": {"email": {"pointer": "/email", "transforms": ["trim", "lower"]}, "name": "/name"},
}


async def test_an_integration_takes_its_mapping_as_a_json_value_with_exact_numbers(
    http: httpx.AsyncClient, workspace: DemoSeed
) -> None:
    body = (
        b'{"display_name": "Shop", "type": "MAPPING", "entity_type": "order", "mapping":'
        b' {"items": "/orders", "fields": {"number": "/id",'
        b' "total": {"pointer": "/total", "default": 0.10}}}}'
    )
    made = await http.post(
        f"/admin/v1/{workspace.workspace}/integrations",
        params={"integration_id": "shop"},
        content=body,
        headers=admin(workspace),
    )
    assert made.status_code == 200, made.text
    integration = made.json()["integration"]
    assert integration["id"] == "shop"
    assert integration["enabled"] is True
    assert integration["max_body_bytes"] == 1048576
    assert integration["rate_limit"] == 6000
    assert integration["mapping"]["fields"]["number"] == "/id"
    got = await http.get(f"/admin/v1/{integration['name']}", headers=admin(workspace))
    assert got.json()["integration"]["name"] == integration["name"]
    # The mapping's numbers keep their text on the way in and out.
    assert '"default":0.10' in got.text.replace(" ", "")
    listed = await http.get(
        f"/admin/v1/{workspace.workspace}/integrations", headers=admin(workspace)
    )
    assert [i["id"] for i in listed.json()["integrations"]] == ["shop"]


async def test_bad_integrations_are_refused_naming_each_field(
    http: httpx.AsyncClient, workspace: DemoSeed
) -> None:
    other = await create(http, workspace, "other", {"type": "OTHER", "entity_type": "person"})
    assert other.status_code == 400
    assert other.json()["code"] == "INTEGRATION_TYPE_NOT_SUPPORTED"
    assert other.json()["detail"] == "Integration type 'OTHER' is not supported"
    assert problem_fields(other) == [("integration.type", "INTEGRATION_TYPE_NOT_SUPPORTED")]
    cases: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
        ("no-type", {"entity_type": "person"}, [("integration.type", "REQUIRED")]),
        (
            "Bad Id",
            {"type": "GENERIC", "entity_type": "person"},
            [("integration_id", "INVALID_ID")],
        ),
        (
            "no-type-slug",
            {"type": "GENERIC", "entity_type": "ghost"},
            [("integration.entity_type", "UNKNOWN_ENTITY_TYPE")],
        ),
        (
            "region",
            {"type": "GENERIC", "entity_type": "person", "default_region": "Norway"},
            [("integration.default_region", "INVALID_REGION")],
        ),
        (
            "cap",
            {"type": "GENERIC", "entity_type": "person", "max_body_bytes": 2000000},
            [("integration.max_body_bytes", "OUT_OF_RANGE")],
        ),
        (
            "rate",
            {"type": "GENERIC", "entity_type": "person", "rate_limit": 2000000},
            [("integration.rate_limit", "INVALID_RATE")],
        ),
        (
            "generic-map",
            {"type": "GENERIC", "entity_type": "person", "mapping": ORDERS_MAPPING},
            [("integration.mapping", "NOT_ALLOWED")],
        ),
        (
            "no-map",
            {"type": "MAPPING", "entity_type": "person"},
            [("integration.mapping", "REQUIRED")],
        ),
        (
            "bad-map",
            {
                "type": "MAPPING",
                "entity_type": "person",
                "mapping": {"fields": {"colour": "/c", "email": {"pointer": "e"}}},
            },
            [("integration.mapping.fields.email.pointer", "INVALID_POINTER")],
        ),
        (
            "unknown-field",
            {"type": "MAPPING", "entity_type": "person", "mapping": {"fields": {"colour": "/c"}}},
            [("integration.mapping.fields.colour", "UNKNOWN_FIELD")],
        ),
        (
            "bad-json",
            {"type": "GENERIC", "entity_type": "person", "colour": 1},
            [("colour", "UNKNOWN_FIELD")],
        ),
    ]
    for integration_id, body, expected in cases:
        got = await create(http, workspace, integration_id, body)
        assert got.status_code == 400, (integration_id, got.text)
        assert problem_fields(got) == expected, integration_id
    listed = await http.get(
        f"/admin/v1/{workspace.workspace}/integrations", headers=admin(workspace)
    )
    assert listed.json().get("integrations", []) == []
    first = await create(http, workspace, "taken", {"type": "GENERIC", "entity_type": "person"})
    assert first.status_code == 200
    again = await create(http, workspace, "taken", {"type": "GENERIC", "entity_type": "person"})
    assert again.status_code == 409
    assert (
        again.json()["detail"] == "an integration with id 'taken' already exists in this workspace"
    )


async def test_an_update_changes_only_what_its_mask_names(
    http: httpx.AsyncClient, workspace: DemoSeed
) -> None:
    made = await create(http, workspace, "hooks", {"type": "TYPEFORM", "entity_type": "person"})
    name = made.json()["integration"]["name"]
    off = await http.patch(f"/admin/v1/{name}", json={"enabled": False}, headers=admin(workspace))
    assert off.status_code == 200, off.text
    assert off.json()["integration"].get("enabled", False) is False
    assert off.json()["integration"]["type"] == "TYPEFORM"
    renamed = await http.patch(
        f"/admin/v1/{name}",
        params={"update_mask": "display_name"},
        json={"display_name": "Typeform leads", "enabled": True},
        headers=admin(workspace),
    )
    assert renamed.json()["integration"]["display_name"] == "Typeform leads"
    assert "enabled" not in renamed.json()["integration"]
    refused = [
        ({"type": "MAPPING"}, [("integration.mapping", "REQUIRED")]),
        ({"entity_type": "contact"}, [("update_mask", "IMMUTABLE_FIELD")]),
        ({"type": "OTHER"}, [("integration.type", "INTEGRATION_TYPE_NOT_SUPPORTED")]),
        ({"max_body_bytes": 0}, [("integration.max_body_bytes", "OUT_OF_RANGE")]),
    ]
    for body, expected in refused:
        got = await http.patch(f"/admin/v1/{name}", json=body, headers=admin(workspace))
        assert got.status_code == 400, got.text
        assert problem_fields(got) == expected
    unchanged = await http.get(f"/admin/v1/{name}", headers=admin(workspace))
    assert unchanged.json()["integration"]["type"] == "TYPEFORM"
    mapped = await http.patch(
        f"/admin/v1/{name}",
        json={"type": "MAPPING", "mapping": {"fields": {"email": "/e"}}},
        headers=admin(workspace),
    )
    assert mapped.status_code == 200, mapped.text
    assert mapped.json()["integration"]["mapping"] == {"fields": {"email": "/e"}}
    missing = await http.patch(
        f"/admin/v1/{workspace.workspace}/integrations/ghost",
        json={"enabled": True},
        headers=admin(workspace),
    )
    assert missing.status_code == 404


async def test_the_mapping_test_shows_what_a_sample_becomes(
    http: httpx.AsyncClient, workspace: DemoSeed
) -> None:
    made = await create(http, workspace, "tf", {"type": "TYPEFORM", "entity_type": "person"})
    url = f"/admin/v1/{made.json()['integration']['name']}:testMapping"
    tested = await http.post(url, json=TYPEFORM_EXAMPLE, headers=admin(workspace))
    assert tested.status_code == 200, tested.text
    answer = tested.json()
    assert answer["mapping"]["fields"]["email"]["pointer"] == "/email"
    assert answer["items"] == [{"values": {"email": "laura@example.com", "name": "Laura"}}]
    wrong = await http.post(url, json={"event_type": "other"}, headers=admin(workspace))
    assert wrong.json()["errors"][0]["code"] == "EVENT_NOT_SUPPORTED"
    bad = await http.post(url, content=b"{nope", headers=admin(workspace))
    assert bad.status_code == 400
    assert problem_fields(bad) == [("sample", "MALFORMED_JSON")]


async def test_client_tokens_need_an_email_type_and_real_origins(
    http: httpx.AsyncClient, workspace: DemoSeed
) -> None:
    url = f"/admin/v1/{workspace.workspace}/clientTokens"
    cases: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
        (
            {"entity_type": "deal", "allowed_origins": ["https://a.example"]},
            [("client_token.entity_type", "NO_EMAIL_FIELD")],
        ),
        (
            {"entity_type": "contact", "allowed_origins": []},
            [("client_token.allowed_origins", "REQUIRED")],
        ),
        (
            {"entity_type": "contact", "allowed_origins": ["https://a.example/contact"]},
            [("client_token.allowed_origins[0]", "INVALID_ORIGIN")],
        ),
        (
            {
                "entity_type": "contact",
                "allowed_origins": ["*"],
                "rate_limit": 0,
                "rate_window_seconds": 90000,
            },
            [("client_token.rate_window_seconds", "INVALID_RATE")],
        ),
    ]
    for body, expected in cases:
        got = await http.post(url, json=body, headers=admin(workspace))
        assert got.status_code == 400, got.text
        assert problem_fields(got) == expected
    made = await http.post(
        url,
        json={"entity_type": "contact", "allowed_origins": ["HTTPS://WWW.Example.com/"]},
        headers=admin(workspace),
    )
    assert made.status_code == 200, made.text
    token = made.json()["client_token"]
    assert made.json()["secret"].startswith(token["prefix"] + "_")
    assert token["allowed_origins"] == ["https://www.example.com"]
    assert token["rate_limit"] == 60
    changed = await http.patch(
        f"/admin/v1/{token['name']}",
        json={"allowed_origins": ["https://shop.example", "*"]},
        headers=admin(workspace),
    )
    assert changed.json()["client_token"]["allowed_origins"] == ["https://shop.example", "*"]
    assert changed.json()["client_token"]["rate_limit"] == 60
    revoked = await http.post(
        f"/admin/v1/{token['name']}:revoke", json={}, headers=admin(workspace)
    )
    assert "revoke_time" in revoked.json()["client_token"]
    listed = await http.get(url, headers=admin(workspace))
    assert [t["name"] for t in listed.json()["client_tokens"]] == [token["name"]]


async def test_project_tokens_list_revoke_and_rotate(
    http: httpx.AsyncClient, workspace: DemoSeed
) -> None:
    url = f"/admin/v1/{workspace.workspace}/projectTokens"
    made = await http.post(url, json={"display_name": "CI"}, headers=admin(workspace))
    assert made.status_code == 200, made.text
    name = made.json()["project_token"]["name"]
    assert made.json()["secret"].startswith("pat_")
    listed = await http.get(url, headers=admin(workspace))
    assert "secret" not in listed.text
    too_long = await http.post(
        f"/admin/v1/{name}:rotate", json={"grace_period": "700000s"}, headers=admin(workspace)
    )
    assert too_long.status_code == 400
    assert problem_fields(too_long) == [("grace_period", "OUT_OF_RANGE")]
    rotated = await http.post(
        f"/admin/v1/{name}:rotate", json={"grace_period": "600s"}, headers=admin(workspace)
    )
    assert rotated.status_code == 200
    assert "expire_time" in rotated.json()["previous"]
    assert rotated.json()["project_token"]["display_name"] == "CI"
    await http.post(f"/admin/v1/{name}:revoke", json={}, headers=admin(workspace))
    again = await http.post(f"/admin/v1/{name}:rotate", json={}, headers=admin(workspace))
    assert again.status_code == 400
    assert again.json()["code"] == "PROJECT_TOKEN_REVOKED"


async def test_the_activity_log_and_deleting_an_integration(
    http: httpx.AsyncClient, stack: Stack, workspace: DemoSeed
) -> None:
    async with channel(stack.address("store")) as ch:
        token = await ext.project_token(ext.stub(ch), workspace)
    made = await create(http, workspace, "gone", {"type": "GENERIC", "entity_type": "person"})
    name = made.json()["integration"]["name"]
    pushed = await http.post(
        "/api/v1/external/data-ingestion/gone", json={"email": "g@acme.no"}, headers=token.headers()
    )
    assert pushed.status_code == 202
    entries = await http.get(f"/admin/v1/{name}/activityEntries", headers=admin(workspace))
    assert [e["request_id"] for e in entries.json()["external_activity_entries"]] == [
        pushed.headers["x-request-id"]
    ]
    deleted = await http.delete(f"/admin/v1/{name}", headers=admin(workspace))
    assert deleted.status_code == 200
    again = await http.post(
        "/api/v1/external/data-ingestion/gone", json={"email": "g@acme.no"}, headers=token.headers()
    )
    assert again.status_code == 404
    # Its requests stay in the token's log.
    kept = await http.get(f"/admin/v1/{token.name}/activityEntries", headers=admin(workspace))
    ids = [e["request_id"] for e in kept.json()["external_activity_entries"]]
    assert pushed.headers["x-request-id"] in ids
    for parent, status in (
        (f"{workspace.workspace}/integrations/gone", 404),
        (f"{workspace.workspace}/clientTokens/0000000000000000", 404),
        (f"{workspace.workspace}/projectTokens/0000000000000000", 404),
    ):
        got = await http.get(f"/admin/v1/{parent}/activityEntries", headers=admin(workspace))
        assert got.status_code == status, parent
    bad_page = await http.get(
        f"/admin/v1/{token.name}/activityEntries",
        params={"page_token": "!!"},
        headers=admin(workspace),
    )
    assert bad_page.status_code == 400


async def test_another_workspaces_admin_token_is_refused(
    http: httpx.AsyncClient, stack: Stack, workspace: DemoSeed
) -> None:
    async with channel(stack.address("store")) as ch:
        other = await demo.seed(
            admin_pb2_grpc.AdminServiceStub(ch),
            bootstrap_token=stack.bootstrap_token,
            workspace_slug=f"o{secrets.token_hex(5)}",
        )
    got = await http.get(f"/admin/v1/{workspace.workspace}/integrations", headers=admin(other))
    assert got.status_code == 403
    missing = await http.get(f"/admin/v1/{workspace.workspace}/projectTokens")
    assert missing.status_code == 401
