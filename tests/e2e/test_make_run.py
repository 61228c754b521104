"""`make run` (python -m inlet_devstack) as a newcomer runs it: embedded PostgreSQL, a demo
for every dialect whose printed curls work as printed, the CLI's variables, loopback
webhooks, the demo reused on the next start, and Ctrl-C stopping everything."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.console_support import csrf_of
from tests.polling import until
from tests.webhook_receiver import receiving

pytestmark = pytest.mark.e2e

BANNER_END = "Ctrl-C stops everything."


def clean_environment() -> dict[str, str]:
    """This process's environment without any INLET_* setting (a newcomer's shell)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INLET_")}


@dataclass
class Run:
    """One `make run`: its process, what it printed, and where it keeps its state."""

    process: asyncio.subprocess.Process
    banner: list[str] = field(default_factory=list)

    @property
    def curls(self) -> list[str]:
        return [line.strip() for line in self.banner if line.startswith("  curl ")]

    @property
    def exports(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for line in self.banner:
            if line.startswith("  export "):
                name, _, value = line.removeprefix("  export ").partition("=")
                found[name] = shlex.split(value)[0]
        return found

    def line(self, starting: str) -> str:
        [found] = [line for line in self.banner if line.strip().startswith(starting)]
        return found.strip()


@dataclass
class Dirs:
    state: Path
    data: Path

    def env(self) -> dict[str, str]:
        return {
            **clean_environment(),
            "INLET_STATE_DIR": str(self.state),
            "INLET_DATA_DIR": str(self.data),
            "INLET_GATEWAY_PORT": "0",
            "INLET_MATCHER_PORT": "0",
            "INLET_STORE_PORT": "0",
            "INLET_NOTIFIER_PORT": "0",
            "INLET_LOG_LEVEL": "WARNING",
        }

    @property
    def credentials(self) -> Path:
        return self.state / "demo-credentials.json"

    def database(self) -> psycopg.Connection[Any]:
        """The demo's database, through the embedded server's socket in its data dir."""
        return psycopg.connect(f"postgresql://postgres@/inlet?host={self.data}", autocommit=True)


@pytest.fixture
def dirs() -> Dirs:
    # Not under pytest's tmp dir: pgserver runs postgres as its own user, which must be
    # able to enter the data directory's parents (see tests/conftest.py).
    return Dirs(Path(tempfile.mkdtemp(prefix="inlet-state-")), Path(tempfile.mkdtemp()))


async def start(dirs: Dirs, **extra: str) -> Run:
    with (dirs.state / "devstack.err").open("ab") as errors:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "inlet_devstack",
            env={**dirs.env(), **extra},
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
    run = Run(process)
    assert process.stdout is not None
    deadline = time.monotonic() + 180
    while not run.banner or run.banner[-1] != BANNER_END:
        left = deadline - time.monotonic()
        assert left > 0, "make run printed no banner in time"
        line = await asyncio.wait_for(process.stdout.readline(), left)
        assert line, f"make run exited: {(dirs.state / 'devstack.err').read_text()[-3000:]}"
        run.banner.append(line.decode().rstrip("\n"))
    return run


async def stop(run: Run, dirs: Dirs) -> None:
    """Ctrl-C: the launcher stops every service and the embedded PostgreSQL, and exits 0."""
    run.process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(run.process.wait(), 90) == 0
    await until(
        lambda: not (dirs.data / "postmaster.pid").exists(), within=30, what="PostgreSQL to stop"
    )
    with pytest.raises(psycopg.OperationalError):
        dirs.database().close()


def shell(command: str, **env: str) -> Any:
    """A printed command run by bash exactly as printed; its JSON answer."""
    done = subprocess.run(
        ["bash", "-c", command],
        env={**clean_environment(), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return json.loads(done.stdout)


def inlet(run: Run, *args: str, check: int = 0) -> subprocess.CompletedProcess[str]:
    """The CLI configured only by the banner's exports (non-default ports included)."""
    done = subprocess.run(
        [sys.executable, "-m", "inlet_cli", *args],
        env={**clean_environment(), **run.exports, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == check, (args, done.stdout, done.stderr)
    return done


def count(dirs: Dirs, sql: str) -> int:
    with dirs.database() as conn:
        found = conn.execute(sql).fetchone()
    assert found is not None
    return int(found[0])


def shell_text(command: str) -> str:
    """A printed command run by bash exactly as printed; its answer as text."""
    done = subprocess.run(
        ["bash", "-c", command],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done.stdout


async def status_of(run: Run, request_id: str, route: str = "/api/ingest/requests/") -> Any:
    """The printed status curl of `route`, with REQUEST_ID set as the banner says, once the
    request is completed."""
    [command] = [c for c in run.curls if "$REQUEST_ID" in c and route in c]
    answer: dict[str, Any] = {}

    async def completed() -> bool:
        answer.update(await asyncio.to_thread(shell, command, REQUEST_ID=request_id))
        data = answer.get("data", answer)
        return bool(data["status"] == "completed")

    await until(completed, within=30, what="the request to complete")
    return answer


async def transfer_data(command: str, transfer_id: str) -> Any:
    """The printed returned-data curl, with TRANSFER_ID set as the banner says, once done."""
    answer: dict[str, Any] = {}

    async def completed() -> bool:
        answer.update(await asyncio.to_thread(shell, command, TRANSFER_ID=transfer_id))
        return bool(answer["completed"])

    await until(completed, within=30, what="the transfer to complete")
    return answer


async def test_make_run_seeds_every_dialect_reuses_its_demo_and_stops_cleanly(
    dirs: Dirs,
) -> None:
    first = await start(dirs)
    try:
        push, single, batch, status, ingestion, job, ping, form, transfer, returned = first.curls
        assert "/api/v1/ingest/iep_" in push
        assert "$REQUEST_ID" in job
        assert "/api/push/transfer" in transfer
        assert "$TRANSFER_ID" in returned
        assert "X-Item-Key: region" in batch
        assert "X-Item-Key" not in single
        assert "$REQUEST_ID" in status
        assert "loopback and private targets allowed" in first.line("webhooks")
        assert first.line("secrets").endswith("new: workspace demo created")
        docs_url = first.line("api docs").split()[2]
        async with httpx.AsyncClient() as client:
            docs = await client.get(docs_url)
        assert docs.status_code == 200
        assert docs.headers["content-type"] == "text/html; charset=utf-8"
        # Every service's Prometheus metrics, where the banner says.
        metrics = dict(
            pair.rsplit(" ", 1) for pair in first.line("metrics").split(None, 1)[1].split(", ")
        )
        assert set(metrics) == {"gateway", "matcher", "store", "notifier"}
        async with httpx.AsyncClient() as client:
            for url in metrics.values():
                scraped = await client.get(url)
                assert scraped.status_code == 200
                assert "_requests_total counter" in scraped.text, url

        pushed = await asyncio.to_thread(shell, push)
        assert pushed["record"]["action"] == "created"
        one = await asyncio.to_thread(shell, single)
        assert one["success"]
        assert one["data"]["items_received"] == 1
        many = await asyncio.to_thread(shell, batch)
        assert many["data"] == {**many["data"], "stream": "sales", "items_received": 3}
        done = await status_of(first, many["data"]["request_id"])
        assert [i["index"] for i in done["data"]["items"]] == [0, 1, 2]
        assert done["data"]["items_failed"] == 0
        await status_of(first, one["data"]["request_id"])

        # Integration ingest: raw JSON into the demo integration, its status, a ping, the form.
        queued = await asyncio.to_thread(shell, ingestion)
        request_id = queued["message"].split()[3]
        assert request_id.startswith("req_")
        job_done = await status_of(first, request_id, "/data-ingestion/requests/")
        assert [i["action"] for i in job_done["items"]] == ["created", "created"]
        assert await asyncio.to_thread(shell_text, ping) == "Pong"
        submitted = await asyncio.to_thread(shell, form)
        assert submitted["record"]["action"] == "created"

        # The push-transfer seed's body, as printed, to the demo session.
        triggered = await asyncio.to_thread(shell, transfer)
        assert triggered["success"]
        data = await transfer_data(returned, triggered["transfer_id"])
        assert [i["internal_id"] for i in data["transfer_data"]] == ["Contact1", "Contact2"]
        assert data["transfer_errors"] is False

        # Every variable the CLI reads is exported, for the ports this run got.
        exports = first.exports
        assert set(exports) == {
            "INLET_ADMIN_URL",
            "INLET_NOTIFIER_URL",
            "INLET_INGEST_URL",
            "INLET_WORKSPACE",
            "INLET_ADMIN_TOKEN",
            "INLET_ENDPOINT_URL",
        }
        assert not exports["INLET_ADMIN_URL"].endswith(":50052")
        found = json.loads(
            inlet(first, "-o", "json", "records", "find", "sales", "region", "North").stdout
        )
        assert found["values"]["region"] == "North"
        assert len(json.loads(inlet(first, "--json", "endpoints", "list").stdout)) == 2
        # The README's stream commands, as written there, on the demo workspace.
        inlet(first, "streams", "create", "sales-eu", "--entity-type", "sales")
        key = json.loads(inlet(first, "--json", "streams", "keys", "create", "sales-eu").stdout)
        assert key["secret"].startswith("ik_live_")

        # Webhooks to a receiver on this machine are delivered under make run.
        async with receiving() as receiver:
            url = receiver.script("/hooks")
            inlet(first, "webhooks", "create", url, "--event", "record.created")
            pushed = await asyncio.to_thread(
                shell, push.replace("ola@acme.no", "kari@acme.no").replace("99887766", "41234567")
            )
            record = pushed["record"]["id"]
            await until(
                lambda: any(record in r.body.decode() for r in receiver.at("/hooks")),
                within=30,
                what="the webhook delivery",
            )

        credentials = dirs.credentials
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        saved = json.loads(credentials.read_text())
        assert saved["admin_token"] == exports["INLET_ADMIN_TOKEN"]

        # The console line's URL signs in with the workspace and the exported admin token.
        console_url = first.line("console").split()[1]
        async with httpx.AsyncClient() as browser:
            sign_in_page = await browser.get(f"{console_url}sign-in")
            signed_in = await browser.post(
                f"{console_url}sign-in",
                data={
                    "workspace": "demo",
                    "token": exports["INLET_ADMIN_TOKEN"],
                    "csrf_token": csrf_of(sign_in_page.text),
                },
            )
            assert signed_in.status_code == 303
            session_cookie = browser.cookies["inlet_console"]
        assert stat.S_IMODE((dirs.state / "console-session-keys").stat().st_mode) == 0o600
    finally:
        await stop(first, dirs)

    # Again: the same workspace, admin token, URLs and ingest key; nothing piles up.
    second = await start(dirs)
    try:
        assert second.line("secrets").endswith("(0600): reused")
        assert second.exports["INLET_ADMIN_TOKEN"] == exports["INLET_ADMIN_TOKEN"]
        assert [c.split("/api/", 1)[1] for c in second.curls] == [
            c.split("/api/", 1)[1] for c in first.curls
        ]
        assert count(dirs, "SELECT count(*) FROM workspaces") == 1
        assert count(dirs, "SELECT count(*) FROM admin_tokens") == 1
        assert count(dirs, "SELECT count(*) FROM ingest_endpoints") == 2
        assert count(dirs, "SELECT count(*) FROM ingest_keys") == 2  # the demo's, sales-eu's
        assert count(dirs, "SELECT count(*) FROM integrations") == 1
        assert count(dirs, "SELECT count(*) FROM project_tokens") == 1
        assert count(dirs, "SELECT count(*) FROM client_tokens") == 1
        assert count(dirs, "SELECT count(*) FROM push_sessions") == 1
        assert count(dirs, "SELECT count(*) FROM api_keys") == 1
        again = await asyncio.to_thread(shell, second.curls[8])
        data = await transfer_data(second.curls[9], again["transfer_id"])
        assert [i["action"] for i in data["transfer_data"]] == ["updated", "updated"]
        assert (await asyncio.to_thread(shell, second.curls[0]))["record"]["action"] == "updated"
        # The console's key ring is kept too: a session from the first run still holds.
        async with httpx.AsyncClient(cookies={"inlet_console": session_cookie}) as browser:
            overview = await browser.get(second.line("console").split()[1])
            assert overview.status_code == 200
            assert "Endpoint push" in overview.text

        # Credentials that stop working are repaired, and only they.
        contact = json.loads(inlet(second, "--json", "endpoints", "list").stdout)
        [contact_id] = [e["id"] for e in contact if e["entity_type"] == "contact"]
        [deal_id] = [e["id"] for e in contact if e["entity_type"] == "deal"]
        inlet(second, "endpoints", "rotate", contact_id)
        inlet(second, "endpoints", "disable", deal_id)
        key_id = second.curls[1].split("ik_live_", 1)[1].split("_", 1)[0]
        inlet(second, "streams", "keys", "revoke", "sales", key_id)
        project_id = second.curls[4].split("pat_", 1)[1].split("_", 1)[0]
        inlet(second, "project-tokens", "revoke", project_id)
        inlet(second, "integrations", "disable", "contacts")
        api_key = second.curls[8].split("Bearer ", 1)[1].split("_", 2)
        inlet(second, "api-keys", "revoke", f"ak_{api_key[1]}")
    finally:
        await stop(second, dirs)
    tampered = json.loads(dirs.credentials.read_text())
    tampered["admin_token"] = "adm_forgotten"
    dirs.credentials.write_text(json.dumps(tampered))

    third = await start(dirs)
    try:
        changes = third.line("secrets")
        assert "new admin token (the saved one no longer works)" in changes
        assert "contact endpoint has a new URL" in changes
        assert "new ingest key" in changes
        assert "new API key (the saved one no longer works)" in changes
        assert "push session created" not in changes
        assert "deal endpoint enabled again" in changes
        assert "new project token (the saved one no longer works)" in changes
        assert "integration contacts enabled again" in changes
        assert "client token" not in changes  # still listed and not revoked
        assert "deal endpoint has a new URL" not in changes  # its URL still works
        assert third.line("deal endpoint:") == first.line("deal endpoint:").replace(
            first.exports["INLET_INGEST_URL"], third.exports["INLET_INGEST_URL"]
        )
        push, single, *_ = third.curls
        assert push != first.curls[0]
        assert single != first.curls[1]
        assert (await asyncio.to_thread(shell, push))["record"]["action"] == "updated"
        assert (await asyncio.to_thread(shell, single))["success"]
        assert "is queued" in (await asyncio.to_thread(shell, third.curls[4]))["message"]
        assert count(dirs, "SELECT count(*) FROM admin_tokens") == 2
        assert count(dirs, "SELECT count(*) FROM ingest_endpoints") == 2
        inlet(third, "endpoints", "list")
        assert stat.S_IMODE(dirs.credentials.stat().st_mode) == 0o600
    finally:
        await stop(third, dirs)
