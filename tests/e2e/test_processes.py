"""Each service as a process: bad config fails at start naming the key; SIGTERM drains."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("module", "env", "key"),
    [
        ("inlet_store", {}, "INLET_DATABASE_URL"),
        ("inlet_matcher", {"INLET_STORE_ADDR": "nope"}, "INLET_STORE_ADDR"),
        ("inlet_notifier", {"INLET_GRPC_ADDR": "x:y"}, "INLET_GRPC_ADDR"),
        (
            "inlet_gateway",
            {"INLET_GATEWAY_TIMEOUT_SECONDS": "soon"},
            "INLET_GATEWAY_TIMEOUT_SECONDS",
        ),
    ],
)
async def test_bad_config_fails_at_start_naming_the_key(
    module: str, env: dict[str, str], key: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INLET_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        env={**clean, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert key in err.decode()


async def test_sigterm_stops_a_service_cleanly(database_url: str) -> None:
    port_file = Path(tempfile.mkdtemp()) / "port"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inlet_notifier",
        env={
            **os.environ,
            "INLET_DATABASE_URL": database_url,
            "INLET_GRPC_ADDR": "127.0.0.1:0",
            "INLET_PORT_FILE": str(port_file),
        },
        stderr=asyncio.subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        assert time.monotonic() < deadline, "notifier never bound its port"
        assert process.returncode is None
        await asyncio.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert b"notifier stopped" in err
