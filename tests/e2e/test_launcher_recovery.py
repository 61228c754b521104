"""`make run` looks after itself: a service killed with -9 is restarted (and the launcher
says so) and the suite answers again within 10 s; after a PostgreSQL restart, Ctrl-C
still stops PostgreSQL; its logs rotate by size, carry one line per request, and never
hold a credential."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from inlet_devstack import postgres
from tests.e2e.test_make_run import Dirs, Run, dirs, shell, start, stop
from tests.polling import until

pytestmark = pytest.mark.e2e

__all__ = ["dirs"]  # the fixture, shared with test_make_run

SERVICES = ("store", "matcher", "notifier", "gateway")
LOG_MAX_BYTES = 64 * 1024


def service_pids(run: Run) -> dict[str, int]:
    """The launcher's live services by name (python -m inlet_<name>), from /proc."""
    found: dict[str, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rpartition(")")[2].split()
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # After the command: state, then the parent's pid; a zombie is not a service.
        if stat[0] == "Z" or int(stat[1]) != run.process.pid:
            continue
        for argument in arguments:
            if argument.startswith(b"inlet_"):
                found[argument.decode().removeprefix("inlet_")] = int(proc.name)
    return found


def gateway_url(run: Run) -> str:
    return run.exports["INLET_INGEST_URL"]


async def answers(run: Run) -> bool:
    """The whole chain answers: an endpoint push is stored and the notifier lists endpoints."""
    exports = run.exports
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            pushed = await client.post(
                exports["INLET_ENDPOINT_URL"], json={"fields": {"name": "Back"}}
            )
            listed = await client.get(
                f"{gateway_url(run)}/admin/v1/workspaces/demo/webhookEndpoints",
                headers={"Authorization": f"Bearer {exports['INLET_ADMIN_TOKEN']}"},
            )
    except httpx.HTTPError:
        return False
    return pushed.status_code == 200 and listed.status_code == 200


def demo_secrets(dirs: Dirs) -> list[str]:
    """Every credential make run saved for its demo (tokens, keys, signing secrets)."""
    saved: dict[str, Any] = json.loads(dirs.credentials.read_text())
    found = [saved["admin_token"]]
    found += [e["secret"] for e in saved["endpoints"].values()]
    for key in ("ingest_key", "api_key", "push_session", "project_token", "client_token"):
        if saved.get(key):
            found.append(saved[key]["secret"])
    return [secret for secret in found if secret]


async def test_killed_services_come_back_and_ctrl_c_stops_a_restarted_postgres(
    dirs: Dirs,
) -> None:
    run = await start(
        dirs, INLET_LOG_LEVEL="INFO", INLET_LOG_MAX_BYTES=str(LOG_MAX_BYTES), INLET_LOG_BACKUPS="2"
    )
    try:
        assert await answers(run)
        for name in SERVICES:
            killed = service_pids(run)[name]
            os.kill(killed, signal.SIGKILL)

            def replaced(name: str = name, killed: int = killed) -> bool:
                return service_pids(run).get(name, killed) != killed

            await until(replaced, within=10, what=f"{name} to be restarted")
            await until(lambda: answers(run), within=10, what=f"the suite after kill -9 {name}")

        def launcher_said_so() -> bool:
            said = (dirs.state / "devstack.err").read_text()
            return all(
                f"{name} exited with -9; restarting it" in said
                and f"{name} restarted on 127.0.0.1:" in said
                for name in SERVICES
            )

        await until(launcher_said_so, within=10, what="the launcher to log every restart")

        await asyncio.to_thread(postgres.restart_data_dir, dirs.data)
        await until(lambda: answers(run), within=10, what="the suite after a PostgreSQL restart")

        # Every dialect once, as printed (credentials in URLs, headers and bodies).
        for command in (run.curls[0], run.curls[1], run.curls[2], run.curls[4], run.curls[8]):
            await asyncio.to_thread(shell, command)
        # Enough requests to rotate the gateway's log (one line each).
        async with httpx.AsyncClient(base_url=gateway_url(run)) as client:
            for _ in range(1000):
                assert (await client.get("/healthz")).status_code == 200
    finally:
        await stop(run, dirs)  # asserts PostgreSQL stopped: the restarted postmaster too

    logs = dirs.state / "logs"
    gateway_logs = sorted(p.name for p in logs.glob("gateway.log*"))
    assert gateway_logs == ["gateway.log", "gateway.log.1", "gateway.log.2"]
    for path in logs.iterdir():
        assert path.stat().st_size <= LOG_MAX_BYTES, path
    every_log = [*logs.iterdir(), dirs.state / "devstack.err"]
    text = "\n".join(p.read_text(errors="replace") for p in every_log)
    for secret in demo_secrets(dirs):
        assert secret not in text, f"a credential ({secret[:8]}…) is in the logs"
    # One INFO line per request at the edge, with its request id; no other INFO per request.
    # Read across the rotated files too: the newest may hold only the shutdown's lines.
    access = [
        json.loads(line)
        for name in gateway_logs
        for line in (logs / name).read_text().splitlines()
        if line.startswith("{") and '"request"' in line
    ]
    assert access
    assert all(entry["request_id"].startswith("req_") for entry in access)
    assert all(entry["level"] == "INFO" for entry in access)
