"""`inlet streams …` as a subprocess against the running suite."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet_devstack import demo
from inlet_devstack.stack import Stack
from tests.messages import bearer_header
from tests.stream_support import SALES, SEED_SINGLE

pytestmark = pytest.mark.e2e


def run(env: dict[str, str], *args: str, check: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "inlet_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == check, (done.returncode, done.stdout, done.stderr)
    return done


def as_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(run(env, "--json", *args).stdout)


async def test_streams_keys_and_connector_log(
    stack: Stack, admin: admin_pb2_grpc.AdminServiceAsyncStub, http: httpx.AsyncClient
) -> None:
    made = await admin.CreateWorkspace(
        admin_pb2.CreateWorkspaceRequest(
            workspace=admin_pb2.Workspace(slug=f"c{secrets.token_hex(6)}")
        ),
        metadata=demo.bearer(stack.bootstrap_token),
    )
    auth = demo.bearer(made.admin_token)
    await admin.CreateEntityType(
        admin_pb2.CreateEntityTypeRequest(parent=made.workspace.name, entity_type=SALES),
        metadata=auth,
    )
    env = {
        **os.environ,
        "INLET_ADMIN_URL": stack.address("store"),
        "INLET_ADMIN_TOKEN": made.admin_token,
        "INLET_WORKSPACE": made.workspace.slug,
    }
    run(env, "streams", "create", "sales", "--entity-type", "sales")
    created = as_json(env, "streams", "keys", "create", "sales", "--name", "erp")
    secret = created["secret"]
    assert secret.startswith("ik_live_")
    key_id = created["ingest_key"]["name"].rsplit("/", 1)[-1]
    test_key = as_json(env, "streams", "keys", "create", "sales", "--test")["secret"]
    assert test_key.startswith("ik_test_")

    answer = await http.post("/api/ingest", json=SEED_SINGLE, headers=bearer_header(secret))
    assert answer.status_code == 202
    [entry] = as_json(env, "streams", "log", "sales")
    assert entry["request_id"] == answer.json()["data"]["request_id"]
    assert entry["items_received"] == 1
    assert entry["status_code"] == 202

    # A repeated Idempotency-Key with another body: the first 202, and the log says so.
    keyed = {**bearer_header(secret), "Idempotency-Key": "cli-1"}
    first = await http.post("/api/ingest", json=SEED_SINGLE, headers=keyed)
    again = await http.post("/api/ingest", json=[SEED_SINGLE, SEED_SINGLE], headers=keyed)
    assert again.json() == first.json()
    replayed = as_json(env, "streams", "log", "sales")[0]
    assert (replayed["status"], replayed["body_differed"]) == ("replayed", True)
    table = run(env, "streams", "log", "sales").stdout
    assert "replayed (body" in table  # the cell may wrap at 80 columns
    assert "differed)" in table

    listed = run(env, "--json", "streams", "keys", "list", "sales").stdout
    assert key_id in listed
    assert secret.split("_")[3] not in listed  # the secret is never shown again

    run(env, "streams", "keys", "set-rate-limit", "sales", key_id, "--limit", "100")
    rotated = as_json(env, "streams", "keys", "rotate", "sales", key_id)["secret"]
    old = await http.post("/api/ingest", json=SEED_SINGLE, headers=bearer_header(secret))
    assert old.status_code == 401
    new_id = rotated.split("_")[2]
    run(env, "streams", "keys", "revoke", "sales", new_id)
    revoked = await http.post("/api/ingest", json=SEED_SINGLE, headers=bearer_header(rotated))
    assert revoked.status_code == 401

    missing = run(env, "streams", "log", "nope", check=3)
    assert "STREAM_NOT_FOUND" in missing.stderr
