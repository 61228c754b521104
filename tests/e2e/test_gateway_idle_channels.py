"""An idle gateway lets its upstream channels go, and gRPC's runtime with them (its threads
exit, so an idle edge does not wake); the next request opens them again and is answered as
the first was."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx

from inlet_devstack.ports import Ports
from inlet_devstack.stack import running
from tests.polling import until

# gRPC core's threads (Linux truncates names to 15 characters).
GRPC_THREADS = {"grpc_global_tim", "event_engine", "lifeguard"}


def grpc_threads(pid: int) -> set[str]:
    names = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names.add((task / "comm").read_text().strip())
        except OSError:
            continue  # the thread ended meanwhile
    return names & GRPC_THREADS


async def test_an_idle_gateway_stops_grpc_and_answers_the_next_request_as_the_first(
    database_url: str,
) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="inlet-e2e-idle-"))
    idle = {"INLET_GATEWAY_CHANNEL_IDLE_SECONDS": "0.3"}
    async with running(
        database_url, ports=Ports(0, 0, 0, 0), log_dir=log_dir, extra_env=idle
    ) as stack:
        gateway = stack.services["gateway"].process.pid
        # Answered by the store: only it can tell this token is no admin token.
        headers = {"authorization": "Bearer adm_not_a_token"}
        async with httpx.AsyncClient(
            base_url=stack.gateway_url, headers=headers, timeout=30
        ) as http:
            first = await http.get("/admin/v1/workspaces/w/entityTypes")
            assert first.status_code == 401, first.text

            await until(lambda: not grpc_threads(gateway), what="gRPC's threads to exit")

            second = await http.get("/admin/v1/workspaces/w/entityTypes")
            assert second.status_code == 401, second.text
            assert second.json()["code"] == first.json()["code"]
