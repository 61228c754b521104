"""The named-query loader and the migration files."""

from __future__ import annotations

import pytest

from inlet_common.sqlfiles import parse
from inlet_store.migrations import available
from inlet_store.queries import queries


def test_every_query_file_block_is_loaded() -> None:
    loaded = queries()
    assert "find_keys" in loaded
    assert all(sql and not sql.endswith(";") for sql in loaded.values())


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def test_migrations_have_distinct_increasing_numbers() -> None:
    versions = [m.version for m in available()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1
