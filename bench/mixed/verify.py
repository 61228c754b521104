"""Afterwards: wait for accepted work to be processed and delivered, then judge the ledger."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import psycopg

from bench.mixed.ledger import Ledger, Verdict
from bench.mixed.suite import MixedSuite


async def stored_records(database_url: str, workspace: str) -> list[dict[str, Any]]:
    """Every record's data in the demo workspace (workspaces/{id})."""
    workspace_id = workspace.rsplit("/", 1)[1]
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(
            "SELECT data::text FROM records WHERE workspace_id = %s", (workspace_id,)
        )
        rows = await cursor.fetchall()
    return [orjson.loads(row[0]) for row in rows]


async def judge(suite: MixedSuite, ledger: Ledger) -> Verdict:
    records = await stored_records(suite.database_url, suite.credentials.workspace)
    return ledger.judge(records, list(suite.receiver.deliveries))


async def settle(suite: MixedSuite, ledger: Ledger, *, within: float) -> Verdict:
    """The verdict once nothing is missing (async work done, webhooks in), or at `within`."""
    deadline = time.monotonic() + within
    while True:
        verdict = await judge(suite, ledger)
        if (not verdict.lost and not verdict.undelivered) or time.monotonic() > deadline:
            return verdict
        await asyncio.sleep(0.5)
