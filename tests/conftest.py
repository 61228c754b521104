"""Fixtures shared by every test level: a real PostgreSQL with inlet's schema."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from inlet_devstack import postgres
from inlet_store import app as store_app
from inlet_store.migrations import migrate


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server: INLET_DATABASE_URL's, or an embedded one for this run."""
    given = os.environ.get("INLET_DATABASE_URL")
    if given:
        yield given
        return
    # Not under pytest's tmp dir: as root, pgserver runs postgres as its own user, which
    # cannot enter pytest's 0700 parent directories to stop the server cleanly.
    url, _server = postgres.embedded(Path(tempfile.mkdtemp(prefix="inlet-pg-")), cleanup="delete")
    yield url


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A fresh database for this test run, migrated to the current schema."""
    url = postgres.create_database(server_url)
    await migrate(url)
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    pool = await store_app.open_pool(database_url, min_size=2, max_size=30)
    yield pool
    await pool.close()
