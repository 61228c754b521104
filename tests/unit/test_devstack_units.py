"""`make run`'s banner and its saved demo credentials, without starting anything."""

from __future__ import annotations

import json
import shlex
import stat
from pathlib import Path
from typing import Any

import typer

from inlet_cli.commands import app
from inlet_devstack import banner, saved
from inlet_devstack.saved import DemoCredentials, Secret

AT = banner.Addresses(
    "http://127.0.0.1:18080", "127.0.0.1:18051", "127.0.0.1:18052", "127.0.0.1:18053"
)
DEMO = DemoCredentials(
    workspace="workspaces/8f913b09-4a8b-4990-ad38-74cac4afee04",
    admin_token="adm_x",
    endpoints={
        "contact": Secret("workspaces/w/ingestEndpoints/c", "iep_c"),
        "deal": Secret("workspaces/w/ingestEndpoints/d", "iep_d"),
    },
    ingest_key=Secret("workspaces/w/streams/sales/ingestKeys/k", "ik_live_k_s"),
    project_token=Secret("workspaces/w/projectTokens/p", "pat_p_s"),
    client_token=Secret("workspaces/w/clientTokens/c", "pct_c_s"),
    api_key=Secret("workspaces/w/apiKeys/0123456789abcdef", "ak_0123456789abcdef_s"),
    push_session=Secret("workspaces/w/sessions/6566e85e7cf20dca9cef0c0a", "whsec_x"),
    read_key=Secret("workspaces/w/streams/sales/readKeys/r", "rk_r_s"),
)


def _envvars(command: Any) -> set[str]:
    found = {str(p.envvar) for p in command.params if getattr(p, "envvar", None)}
    for sub in getattr(command, "commands", {}).values():
        found |= _envvars(sub)
    return found


def test_the_banner_exports_every_variable_the_cli_reads() -> None:
    text = banner.render(
        AT,
        DEMO,
        workspace_slug="demo",
        log_dir=Path("/x/logs"),
        saved_at=Path("/x/demo-credentials.json"),
        changes=[],
        allow_private=True,
    )
    exported = {
        line.split("=", 1)[0].removeprefix("  export ")
        for line in text.splitlines()
        if line.startswith("  export ")
    }
    assert exported == _envvars(typer.main.get_command(app))
    assert "  export INLET_ADMIN_URL=127.0.0.1:18052" in text
    assert "  export INLET_NOTIFIER_URL=127.0.0.1:18053" in text
    assert "  export INLET_WORKSPACE=demo" in text
    assert "(0600): reused" in text
    assert "INLET_WEBHOOK_ALLOW_PRIVATE=true" in text


def test_every_printed_curl_is_one_shell_word_list_with_its_json_body() -> None:
    text = banner.render(
        AT,
        DEMO,
        workspace_slug="demo",
        log_dir=Path("/x"),
        saved_at=Path("/x/c.json"),
        changes=["contact endpoint has a new URL (the saved one no longer works)"],
        allow_private=False,
    )
    curls = [line.strip() for line in text.splitlines() if line.startswith("  curl ")]
    assert len(curls) == 12
    for curl in curls:
        words = shlex.split(curl)
        assert words[0] == "curl"
    assert "-H 'X-Item-Key: region'" in curls[2]
    ingestion, job, ping, form = curls[4:8]
    assert (
        "/api/v1/external/data-ingestion/contacts -H 'Authorization: Bearer pat_p_s'" in ingestion
    )
    assert "/api/v1/external/data-ingestion/requests/$REQUEST_ID" in job
    assert ping.endswith("/api/v1/external/ping -H 'Authorization: Bearer pat_p_s'")
    assert "-H 'x-client-token: pct_c_s' -H 'Origin: http://localhost:3000'" in form
    transfer = shlex.split(curls[8])
    body = json.loads(transfer[transfer.index("-d") + 1])
    assert body["session_id"] == "6566e85e7cf20dca9cef0c0a"
    assert [i["internal_id"] for i in body["transfer_data"]] == ["Contact1", "Contact2"]
    assert "Authorization: Bearer ak_0123456789abcdef_s" in transfer
    assert "transfer_id=$TRANSFER_ID" in curls[9]
    assert shlex.split(curls[10]) == [
        "curl",
        "-sS",
        "-N",
        "http://127.0.0.1:18080/api/streams/sales/feed",
        "-H",
        "Authorization: Bearer rk_r_s",
    ]
    assert "/api/streams/sales/items -H 'Authorization: Bearer rk_r_s'" in curls[11]
    assert "refused (INLET_WEBHOOK_ALLOW_PRIVATE=false)" in text
    assert "(0600): contact endpoint has a new URL" in text


def test_saved_credentials_are_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "state" / "demo-credentials.json"
    saved.save(path, DEMO)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert saved.load(path) == DEMO
    path.chmod(0o644)
    saved.save(path, DEMO)  # rewritten private even over a file someone opened up
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_missing_or_damaged_credentials_read_as_none(tmp_path: Path) -> None:
    path = tmp_path / "demo-credentials.json"
    assert saved.load(path) == DemoCredentials()
    path.write_text("{not json")
    assert saved.load(path) == DemoCredentials()
    path.write_text('{"admin_token": 5, "endpoints": {"contact": {"name": "n"}}, "ingest_key": []}')
    assert saved.load(path) == DemoCredentials()
