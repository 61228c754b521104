"""Each service as a process: bad config fails at start naming the key; SIGTERM drains."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
import tempfile
from pathlib import Path

import pytest

from inlet_notifier.secrets_at_rest import new_key_ring
from tests.webhook_receiver import start_notifier

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("module", "env", "key"),
    [
        ("inlet_store", {}, "INLET_DATABASE_URL"),
        ("inlet_matcher", {"INLET_STORE_ADDR": "nope"}, "INLET_STORE_ADDR"),
        ("inlet_notifier", {"INLET_GRPC_ADDR": "x:y"}, "INLET_GRPC_ADDR"),
        (
            "inlet_notifier",
            {"INLET_DATABASE_URL": "postgresql://127.0.0.1:9/none"},
            "INLET_WEBHOOK_SECRET_KEYS is required",
        ),
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
    process = await start_notifier(
        database_url,
        Path(tempfile.mkdtemp()) / "port",
        {"INLET_WEBHOOK_SECRET_KEYS": new_key_ring()},
        stderr=asyncio.subprocess.PIPE,
    )
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert b"notifier stopped" in err


async def test_a_bad_key_ring_fails_at_start_naming_the_key_but_never_the_keys() -> None:
    good = new_key_ring("k2")
    short = base64.b64encode(os.urandom(31)).decode()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INLET_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inlet_notifier",
        env={
            **clean,
            "INLET_DATABASE_URL": "postgresql://127.0.0.1:9/none",
            "INLET_WEBHOOK_SECRET_KEYS": f"{good},k1:{short}",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    message = err.decode()
    assert "INLET_WEBHOOK_SECRET_KEYS" in message
    assert "'k1'" in message
    assert "32 bytes" in message
    for secret in (good.split(":", 1)[1], short):
        assert secret not in message
        assert secret not in out.decode()
