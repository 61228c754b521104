"""The named-query loader and the migration files."""

from __future__ import annotations

import pytest

from inlet_store.migrations import available
from inlet_store.queries import parse, queries


def test_every_query_file_block_is_loaded() -> None:
    loaded = queries()
    assert "find_keys" in loaded
    assert all(sql and not sql.endswith(";") for sql in loaded.values())


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in available()]
    assert versions == list(range(1, len(versions) + 1))
