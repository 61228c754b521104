"""The gateway's server loop: the Date of its answers is current although nothing ticks,
and a stop ends it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime

import httpx
import pytest

from inlet_gateway import server
from inlet_gateway.config import GatewayConfig
from tests.polling import until
from tests.ports import dead_port


@pytest.fixture
async def gateway() -> AsyncIterator[server.RunningGateway]:
    """A gateway answering /healthz itself (its matcher address has nothing listening)."""
    with dead_port() as port:
        running = await server.start(
            GatewayConfig(listen_host="127.0.0.1", listen_port=0, matcher_addr=f"127.0.0.1:{port}")
        )
        yield running
        await running.stop()


async def answer_date(http: httpx.AsyncClient) -> float:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert len(response.headers.get_list("date")) == 1
    return parsedate_to_datetime(response.headers["date"]).timestamp()


async def test_answers_carry_the_date_they_were_made_at(gateway: server.RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        before = int(time.time())
        date = await answer_date(http)
        after = time.time()

    assert before <= date <= after


async def test_the_date_follows_the_clock_from_one_second_to_the_next(
    gateway: server.RunningGateway,
) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        first = await answer_date(http)

        async def later() -> float | None:
            date = await answer_date(http)
            return date if date > first else None

        assert await until(later, within=5, what="an answer dated a later second") > first


async def test_stop_ends_the_server_and_closes_its_port() -> None:
    with dead_port() as port:
        running = await server.start(
            GatewayConfig(listen_host="127.0.0.1", listen_port=0, matcher_addr=f"127.0.0.1:{port}")
        )
    async with httpx.AsyncClient(base_url=running.url) as http:
        assert (await http.get("/healthz")).status_code == 200

        await running.stop()

        with pytest.raises(httpx.ConnectError):
            await http.get("/healthz")
