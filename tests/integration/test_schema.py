"""The migrations and sql/schema.sql describe the same database."""

from __future__ import annotations

from typing import Any

import psycopg

from inlet_devstack import postgres
from inlet_store.migrations import migrate, schema_sql

CATALOG = """
SELECT 'column', table_name || '.' || column_name || ' ' || data_type || ' '
       || is_nullable || ' ' || coalesce(column_default, '')
  FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'function', pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
ORDER BY 1, 2
"""


def catalog(url: str) -> list[Any]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(CATALOG).fetchall()
    return [r for r in rows if "schema_migrations" not in r[1]]


async def test_migrations_match_schema_file(server_url: str) -> None:
    migrated = postgres.create_database(server_url, "inlet_mig")
    snapshot = postgres.create_database(server_url, "inlet_snap")
    try:
        await migrate(migrated)
        async with await psycopg.AsyncConnection.connect(snapshot, autocommit=True) as conn:
            await conn.execute(schema_sql().encode())
        assert catalog(migrated) == catalog(snapshot)
    finally:
        postgres.drop_database(migrated)
        postgres.drop_database(snapshot)


async def test_migrate_is_idempotent(database_url: str) -> None:
    assert await migrate(database_url) == []
