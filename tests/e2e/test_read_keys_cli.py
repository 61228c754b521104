"""`inlet streams read-keys …` as an operator runs it: create (shown once), list, revoke."""

from __future__ import annotations

import os
import secrets

import httpx
import pytest

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet_devstack import demo
from inlet_devstack.stack import Stack
from tests.e2e.test_stream_cli import as_json, run
from tests.messages import bearer_header
from tests.stream_support import SALES

pytestmark = pytest.mark.e2e


async def test_read_keys_create_list_revoke(
    stack: Stack, admin: admin_pb2_grpc.AdminServiceAsyncStub, http: httpx.AsyncClient
) -> None:
    made = await admin.CreateWorkspace(
        admin_pb2.CreateWorkspaceRequest(
            workspace=admin_pb2.Workspace(slug=f"r{secrets.token_hex(6)}")
        ),
        metadata=demo.bearer(stack.bootstrap_token),
    )
    await admin.CreateEntityType(
        admin_pb2.CreateEntityTypeRequest(parent=made.workspace.name, entity_type=SALES),
        metadata=demo.bearer(made.admin_token),
    )
    env = {
        **os.environ,
        "INLET_ADMIN_URL": stack.address("store"),
        "INLET_ADMIN_TOKEN": made.admin_token,
        "INLET_WORKSPACE": made.workspace.slug,
    }
    run(env, "streams", "create", "sales", "--entity-type", "sales")
    shown = run(env, "streams", "read-keys", "create", "sales", "--name", "dashboard")
    secret = shown.stdout.splitlines()[1]
    assert secret.startswith("rk_")
    assert "shown once" in shown.stderr
    [listed] = as_json(env, "streams", "read-keys", "list", "sales")
    assert listed["display_name"] == "dashboard"
    assert listed["prefix"] == secret.rsplit("_", 1)[0]
    assert secret not in run(env, "streams", "read-keys", "list", "sales").stdout
    items = await http.get("/api/streams/sales/items", headers=bearer_header(secret))
    assert items.status_code == 200, items.text

    key_id = listed["name"].rsplit("/", 1)[-1]
    [revoked] = as_json(env, "streams", "read-keys", "revoke", "sales", key_id)
    assert revoked["revoke_time"]
    refused = await http.get("/api/streams/sales/items", headers=bearer_header(secret))
    assert refused.status_code == 401
    missing = run(env, "streams", "read-keys", "revoke", "sales", "0" * 16, check=3)
    assert "NOT_FOUND" in missing.stderr
