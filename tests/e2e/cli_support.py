"""The `inlet` CLI as a subprocess, on a fresh workspace of the running suite."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet_devstack import demo
from inlet_devstack.stack import Stack

# How long a command may go without progress before it counts as hung.
STALL_SECONDS = 300


@dataclass
class Cli:
    env: dict[str, str]
    token: str

    def run(
        self, *args: str, check: int | None = 0, progress: Callable[[], object] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The command's outcome. A hung command is stopped after STALL_SECONDS; with
        `progress` (a reading of the work done, for long commands), only after
        STALL_SECONDS in which that reading did not change, however slow the machine."""
        command = [sys.executable, "-m", "inlet_cli", *args]
        with subprocess.Popen(
            command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            reading, since = progress() if progress else None, time.monotonic()
            while True:
                try:
                    stdout, stderr = process.communicate(timeout=5)
                    break
                except subprocess.TimeoutExpired:
                    now = progress() if progress else None
                    if now != reading:
                        reading, since = now, time.monotonic()
                    elif time.monotonic() - since > STALL_SECONDS:
                        process.kill()
                        stdout, stderr = process.communicate()
                        raise AssertionError(
                            f"{command}: no progress in {STALL_SECONDS} s", stdout, stderr
                        ) from None
        done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
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
