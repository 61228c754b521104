"""Fixtures for the notifier's integration tests (webhook delivery, secrets at rest,
retention): each module keeps a database of its own, made by `own_database`, and the
fixtures here (registered in conftest.py) work on whichever `own_pool` the module has.

No `own_pool` is defined for every module on purpose: a module must choose its own
database, so that the e2e stack's notifier, which works the shared one, never delivers or
prunes these modules' rows (and their start-up passes and janitors never touch its rows).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from inlet_devstack import postgres
from inlet_notifier import app as notifier_app
from inlet_notifier.config import DeliverySettings
from inlet_notifier.delivery import Worker
from inlet_notifier.secrets_at_rest import KeyRing, new_key_ring
from inlet_notifier.service import Webhooks
from inlet_store.migrations import migrate
from tests.webhook_receiver import Receiver, new_workspace, receiving

# Retries a few hundredths of a second apart, short timeouts and leases, loopback allowed.
FAST = DeliverySettings(
    schedule=(0, 0.05, 0.05, 0.05, 0.05),
    jitter=0.1,
    timeout=2.0,
    lease=3.0,
    poll=0.02,
    per_endpoint=4,
    allow_private=True,
)
# The key ring the fixtures seal and open secrets with (one key, id k1).
RING = new_key_ring("k1")
KEYS = KeyRing.parse(RING)


def own_database(prefix: str, *, max_size: int) -> Any:
    """A module-scoped `own_pool` fixture: a fresh database named after `prefix`, migrated,
    and dropped after the module. Assign it to `own_pool` in the test module."""

    @pytest.fixture(scope="module")
    async def own_pool(server_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
        url = postgres.create_database(server_url, prefix)
        await migrate(url)
        pool = await notifier_app.open_pool(url, max_size=max_size)
        yield pool
        await pool.close()
        postgres.drop_database(url)

    return own_pool


def url_of(pool: AsyncConnectionPool[Any]) -> str:
    """The database URL `pool` connects to (the fixtures open every pool on a URL)."""
    conninfo = pool.conninfo
    assert isinstance(conninfo, str), conninfo
    return conninfo


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on loopback (see tests.webhook_receiver)."""
    async with receiving() as r:
        yield r


@pytest.fixture
async def workspace(own_pool: AsyncConnectionPool[Any]) -> str:
    return await new_workspace(own_pool)


@pytest.fixture
def webhooks(own_pool: AsyncConnectionPool[Any]) -> Webhooks:
    return Webhooks(own_pool, keys=KEYS, allow_private=True)


@pytest.fixture
async def workers(own_pool: AsyncConnectionPool[Any]) -> AsyncIterator[Callable[..., Worker]]:
    """Starts delivery workers on `own_pool` (FAST and KEYS unless told); stops them after."""
    started: list[Worker] = []

    def make(settings: DeliverySettings = FAST, *, keys: KeyRing = KEYS, **kw: Any) -> Worker:
        worker = Worker(own_pool, settings, keys=keys, **kw)
        worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        await worker.stop()
