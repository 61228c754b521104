"""The bench's host-speed probe: a fixed loop, timed."""

from __future__ import annotations

import pytest

from bench import hostspeed


def test_the_loop_is_timed_in_seconds() -> None:
    seconds = hostspeed.loop_seconds(1_000)

    assert isinstance(seconds, float)
    assert 0 < seconds < 60


def test_a_loop_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        hostspeed.loop_seconds(0)
