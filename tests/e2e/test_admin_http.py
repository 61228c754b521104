"""The admin API over HTTP through the gateway, from its google.api.http annotations."""

from __future__ import annotations

import httpx
import pytest

from inlet_devstack.demo import DemoSeed
from tests.messages import PROBLEM, bearer_header, push_url

pytestmark = pytest.mark.e2e


async def test_admin_reads_and_writes_over_http(http: httpx.AsyncClient, seeded: DemoSeed) -> None:
    auth = bearer_header(seeded.admin_token)
    types = await http.get(f"/admin/v1/{seeded.workspace}/entityTypes", headers=auth)
    assert types.status_code == 200, types.text
    assert {t["slug"] for t in types.json()["entity_types"]} >= {"contact", "company", "deal"}

    endpoint = await http.get(f"/admin/v1/{seeded.endpoints['contact']}", headers=auth)
    assert endpoint.status_code == 200, endpoint.text
    assert endpoint.json()["ingest_endpoint"]["entity_type"] == "contact"

    pushed = await http.post(push_url(seeded, "contact"), json={"fields": {"email": "ola@acme.no"}})
    log = await http.get(f"/admin/v1/{seeded.endpoints['contact']}/activityEntries", headers=auth)
    assert log.status_code == 200
    assert log.json()["activity_entries"][0]["request_id"] == pushed.headers["x-request-id"]

    disabled = await http.patch(
        f"/admin/v1/{seeded.endpoints['contact']}",
        headers=auth,
        json={"enabled": False},
        params={"update_mask": "enabled"},
    )
    assert disabled.status_code == 200, disabled.text
    # proto3 JSON leaves false out (the push contract needs that: no empty matched_on).
    assert disabled.json()["ingest_endpoint"].get("enabled", False) is False
    refused = await http.post(push_url(seeded, "contact"), json={"fields": {}})
    assert refused.status_code == 404


@pytest.mark.parametrize("headers", [{}, bearer_header("adm_wrong"), {"authorization": "Basic x"}])
async def test_admin_without_a_valid_token_is_401(
    http: httpx.AsyncClient, seeded: DemoSeed, headers: dict[str, str]
) -> None:
    reply = await http.get(f"/admin/v1/{seeded.workspace}/entityTypes", headers=headers)
    assert reply.status_code == 401
    assert reply.headers["content-type"].startswith(PROBLEM)
    assert "adm_wrong" not in reply.text


async def test_admin_token_of_another_workspace_is_403(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    other = f"workspaces/{'0' * 8}-0000-0000-0000-{'0' * 12}"
    reply = await http.get(
        f"/admin/v1/{other}/entityTypes", headers=bearer_header(seeded.admin_token)
    )
    assert reply.status_code in {403, 404}


async def test_malformed_body_to_an_admin_action_does_nothing(
    http: httpx.AsyncClient, seeded: DemoSeed
) -> None:
    # The edge refuses the body; the RPC must not run on the URL alone (no rotation).
    reply = await http.post(
        f"/admin/v1/{seeded.endpoints['contact']}:rotateToken",
        headers={**bearer_header(seeded.admin_token), "content-type": "application/json"},
        content=b"{not json",
    )
    assert reply.status_code == 400
    assert reply.json()["code"] == "MALFORMED_JSON"
    still = await http.post(push_url(seeded, "contact"), json={"fields": {"name": "x"}})
    assert still.status_code == 200
