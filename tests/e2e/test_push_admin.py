"""Push transfer's set-up over the admin API (HTTP through the gateway): API keys stored
hashed and rotatable, sessions with the ready-made crm-contact and crm-company types,
custom types mapped to any entity type, default webhooks, and every bad input named."""

from __future__ import annotations

import hashlib

import httpx
import psycopg
import pytest

from inlet_devstack.demo import DemoSeed

pytestmark = pytest.mark.e2e


def admin(seeded: DemoSeed) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.admin_token}"}


async def test_api_keys_are_shown_once_stored_hashed_rotated_and_revoked(
    http: httpx.AsyncClient, seeded: DemoSeed, database_url: str
) -> None:
    made = await http.post(
        f"/admin/v1/{seeded.workspace}/apiKeys",
        json={"display_name": "backend", "rate_limit": 100},
        headers=admin(seeded),
    )
    assert made.status_code == 200, made.text
    body = made.json()
    secret = body["secret"]
    assert secret.startswith("ak_")
    key = body["api_key"]
    assert key["prefix"] == "_".join(secret.split("_")[:2])
    assert key["rate_limit"] == 100
    assert key["rate_window_seconds"] == 60
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT secret_hash FROM api_keys WHERE id = %s", (secret.split("_")[1],)
        ).fetchone()
    assert stored is not None
    assert bytes(stored[0]) == hashlib.sha256(secret.split("_")[2].encode()).digest()
    listed = await http.get(f"/admin/v1/{seeded.workspace}/apiKeys", headers=admin(seeded))
    assert [k["prefix"] for k in listed.json()["api_keys"]] == [key["prefix"]]
    assert secret not in listed.text
    rotated = await http.post(f"/admin/v1/{key['name']}:rotate", json={}, headers=admin(seeded))
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != secret
    assert rotated.json()["previous"]["expire_time"]
    revoked = await http.post(f"/admin/v1/{key['name']}:revoke", json={}, headers=admin(seeded))
    assert revoked.json()["api_key"]["revoke_time"]
    again = await http.post(f"/admin/v1/{key['name']}:rotate", json={}, headers=admin(seeded))
    assert again.status_code == 400
    assert again.json()["code"] == "API_KEY_REVOKED"  # as every credential type: <TYPE>_REVOKED


async def test_bad_api_key_settings_are_named(http: httpx.AsyncClient, seeded: DemoSeed) -> None:
    answer = await http.post(
        f"/admin/v1/{seeded.workspace}/apiKeys",
        json={"rate_limit": -1, "rate_window_seconds": 100000},
        headers=admin(seeded),
    )
    assert answer.status_code == 400
    assert [e["field"] for e in answer.json()["errors"]] == [
        "api_key.rate_limit",
        "api_key.rate_window_seconds",
    ]
    unauthorised = await http.get(f"/admin/v1/{seeded.workspace}/apiKeys")
    assert unauthorised.status_code == 401


async def test_a_session_with_the_standard_types_makes_their_entity_types(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    made = await http.post(
        f"/admin/v1/{seeded.workspace}/sessions",
        json={
            "display_name": "CRM sync",
            "types": [{"endgrate_type": "crm-contact"}, {"endgrate_type": "crm-company"}],
            "data_webhook": {"endpoint": "https://example.com/data", "metadata": {"user_id": 1}},
            "default_region": "NO",
        },
        headers=admin(seeded),
    )
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["webhook_secret"].startswith("whsec_")
    session = body["session"]
    assert len(session["session_id"]) == 24
    assert session["name"].endswith(f"/sessions/{session['session_id']}")
    assert [(t["endgrate_type"], t["entity_type"], t["upsert_keys"]) for t in session["types"]] == [
        ("crm-contact", "crm-contact", ["email", "phone", "full_name"]),
        ("crm-company", "crm-company", ["domain", "full_name"]),
    ]
    assert session["data_webhook"] == {
        "endpoint": "https://example.com/data",
        "metadata": {"user_id": 1},
    }
    assert session["webhook_endpoint"].startswith(f"{seeded.workspace.split('/')[0]}/")
    contact = await http.get(
        f"/admin/v1/{seeded.workspace}/entityTypes/crm-contact", headers=admin(seeded)
    )
    assert contact.status_code == 200
    assert [f["slug"] for f in contact.json()["entity_type"]["fields"]][:4] == [
        "first_name",
        "last_name",
        "email",
        "phone",
    ]
    # A second session reuses them.
    second = await http.post(
        f"/admin/v1/{seeded.workspace}/sessions",
        json={"types": [{"endgrate_type": "crm-contact"}]},
        headers=admin(seeded),
    )
    assert second.status_code == 200
    got = await http.get(f"/admin/v1/{session['name']}", headers=admin(seeded))
    assert got.json()["session"] == session
    listed = await http.get(f"/admin/v1/{seeded.workspace}/sessions", headers=admin(seeded))
    assert [s["session_id"] for s in listed.json()["sessions"]] == [
        session["session_id"],
        second.json()["session"]["session_id"],
    ]


async def test_a_custom_type_maps_its_fields_to_any_entity_type(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    made = await http.post(
        f"/admin/v1/{seeded.workspace}/sessions",
        json={
            "types": [
                {
                    "endgrate_type": "my-lead",
                    "entity_type": "contact",
                    "field_map": {"full_name": "name", "work_email": "email"},
                }
            ]
        },
        headers=admin(seeded),
    )
    assert made.status_code == 200, made.text
    (kind,) = made.json()["session"]["types"]
    assert kind["field_map"] == {"full_name": "name", "work_email": "email"}
    assert kind.get("upsert_keys", []) == []
    example = await http.get(
        f"/admin/v1/{made.json()['session']['name']}/example", headers=admin(seeded)
    )
    assert example.status_code == 200, example.text
    payload = example.json()["payload"]
    assert payload["endgrate_type"] == "my-lead"
    assert set(payload["transfer_data"][0]["data"]) == {"full_name", "work_email", "phone"}


@pytest.mark.parametrize(
    ("session", "expected"),
    [
        ({}, [("session.types", "REQUIRED_FIELD_MISSING")]),
        (
            {"types": [{"endgrate_type": "Bad Type"}]},
            [("session.types[0].endgrate_type", "INVALID_ENDGRATE_TYPE")],
        ),
        (
            {"types": [{"endgrate_type": "crm-contact"}, {"endgrate_type": "crm-contact"}]},
            [("session.types[1].endgrate_type", "DUPLICATE")],
        ),
        (
            {"types": [{"endgrate_type": "my-deal"}]},
            [("session.types[0].entity_type", "REQUIRED_FIELD_MISSING")],
        ),
        (
            {"types": [{"endgrate_type": "my-deal", "entity_type": "nothing"}]},
            [("session.types[0].entity_type", "UNKNOWN_ENTITY_TYPE")],
        ),
        (
            {"types": [{"endgrate_type": "x", "entity_type": "deal", "field_map": {"a": "zz"}}]},
            [("session.types[0].field_map.a", "UNKNOWN_FIELD")],
        ),
        (
            {"types": [{"endgrate_type": "crm-contact"}], "error_webhook": {"endpoint": "nope"}},
            [("session.error_webhook.endpoint", "INVALID_URL")],
        ),
        (
            {"types": [{"endgrate_type": "crm-contact"}], "default_region": "norway"},
            [("session.default_region", "INVALID_REGION")],
        ),
    ],
)
async def test_a_bad_session_is_400_naming_the_field(
    http: httpx.AsyncClient,
    seeded: DemoSeed,
    session: dict[str, object],
    expected: list[tuple[str, str]],
) -> None:
    answer = await http.post(
        f"/admin/v1/{seeded.workspace}/sessions", json=session, headers=admin(seeded)
    )
    assert answer.status_code == 400, answer.text
    assert [(e["field"], e["code"]) for e in answer.json()["errors"]] == expected
    listed = await http.get(f"/admin/v1/{seeded.workspace}/sessions", headers=admin(seeded))
    assert listed.json().get("sessions", []) == []


async def test_a_session_update_changes_only_what_it_names_and_delete_removes_it(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    made = await http.post(
        f"/admin/v1/{seeded.workspace}/sessions",
        json={
            "display_name": "one",
            "types": [{"endgrate_type": "crm-contact"}],
            "error_webhook": {"endpoint": "https://example.com/errors"},
        },
        headers=admin(seeded),
    )
    name = made.json()["session"]["name"]
    changed = await http.patch(
        f"/admin/v1/{name}",
        json={"display_name": "two", "types": [{"endgrate_type": "crm-company"}]},
        headers=admin(seeded),
    )
    assert changed.status_code == 200, changed.text
    session = changed.json()["session"]
    assert session["display_name"] == "two"
    assert [t["endgrate_type"] for t in session["types"]] == ["crm-company"]
    assert session["error_webhook"] == {"endpoint": "https://example.com/errors"}
    cleared = await http.patch(
        f"/admin/v1/{name}?update_mask=error_webhook", json={}, headers=admin(seeded)
    )
    assert "error_webhook" not in cleared.json()["session"]
    bad = await http.patch(
        f"/admin/v1/{name}?update_mask=session_idx", json={}, headers=admin(seeded)
    )
    assert bad.status_code == 400
    deleted = await http.delete(f"/admin/v1/{name}", headers=admin(seeded))
    assert deleted.status_code == 200
    gone = await http.get(f"/admin/v1/{name}", headers=admin(seeded))
    assert gone.status_code == 404
    assert gone.json()["code"] == "SESSION_NOT_FOUND"
