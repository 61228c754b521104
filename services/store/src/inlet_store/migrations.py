"""Forward-only numbered migrations (sql/migrations/NNNN_name.sql), applied under a lock."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
# Any constant works; it only has to be the same for every migrating process.
_LOCK_KEY = 0x1A1E7


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    folder = resources.files("inlet_store").joinpath("sql/migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


def schema_sql() -> str:
    return resources.files("inlet_store").joinpath("sql/schema.sql").read_text()


async def migrate(url: str) -> list[int]:
    """Apply every migration not yet applied; return the versions applied now."""
    applied_now: list[int] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        # Session lock: two processes starting together migrate one after the other.
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for migration in available():
                if migration.version in done:
                    continue
                if done and migration.version < max(done):
                    # Forward-only: a migration numbered below one already applied was
                    # written in parallel and never ran here; applying it now would run
                    # it out of order, so stop and let a person renumber it.
                    raise RuntimeError(
                        f"migration {migration.version:04d}_{migration.name} is older than "
                        f"the newest applied ({max(done):04d}); renumber it"
                    )
                async with conn.transaction():
                    await conn.execute(migration.sql.encode())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied_now.append(migration.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
