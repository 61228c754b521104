"""A service's entry: the collector tuned for work that comes in batches."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from inlet_common import entrypoint
from inlet_common.config import ConfigError


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_what_is_loaded_at_start_leaves_the_collector_and_young_collections_are_rarer() -> None:
    older = gc.get_threshold()[1:]
    entrypoint.tune_gc()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (entrypoint.GC_YOUNG_THRESHOLD, *older)


@pytest.mark.usefixtures("restored_gc")
def test_a_config_error_still_ends_the_process_with_code_2() -> None:
    async def main() -> None:
        raise ConfigError("INLET_X must be set")

    with pytest.raises(SystemExit) as ended:
        entrypoint.run(main)
    assert ended.value.code == 2


@pytest.mark.usefixtures("restored_gc")
def test_a_port_it_cannot_bind_ends_the_process_with_code_1_and_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        raise OSError(98, "address already in use")

    with pytest.raises(SystemExit) as ended:
        entrypoint.run(main)
    assert ended.value.code == 1
    assert [r.getMessage() for r in caplog.records] == [
        "cannot serve: [Errno 98] address already in use"
    ]
