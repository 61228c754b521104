"""The `inlet` CLI as a subprocess, on a fresh workspace of the running suite."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet_devstack import demo
from inlet_devstack.stack import Stack


@dataclass
class Cli:
    env: dict[str, str]
    token: str

    def run(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "inlet_cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check is not None:
            assert done.returncode == check, (done.returncode, done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run("--json", *args).stdout)

    def refused(self, *args: str, check: int) -> str:
        """The one line of stderr a refused command prints (no traceback, no usage box)."""
        done = self.run(*args, check=check)
        assert done.stdout == ""
        first, *rest = done.stderr.strip().splitlines()
        assert first.startswith("error: ")
        # The API's field violations are listed, indented, under the error line.
        assert all(line.startswith("  ") for line in rest)
        return done.stderr


async def new_workspace_cli(stack: Stack, admin: admin_pb2_grpc.AdminServiceAsyncStub) -> Cli:
    """A CLI configured by environment for a new workspace, as an operator would set it."""
    made = await admin.CreateWorkspace(
        admin_pb2.CreateWorkspaceRequest(
            workspace=admin_pb2.Workspace(slug=f"c{secrets.token_hex(6)}")
        ),
        metadata=demo.bearer(stack.bootstrap_token),
    )
    env = {
        **os.environ,
        "INLET_ADMIN_URL": stack.address("store"),
        "INLET_ADMIN_TOKEN": made.admin_token,
        "INLET_WORKSPACE": made.workspace.slug,
        "INLET_INGEST_URL": stack.gateway_url,
        "INLET_NOTIFIER_URL": stack.address("notifier"),
        "COLUMNS": "200",
    }
    return Cli(env, made.admin_token)
