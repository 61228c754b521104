"""Rate-limit windows for tests: inlet's fixed windows are aligned to the clock, so a test
that counts hits in one picks a window whose current span cannot end while it runs."""

from __future__ import annotations

import time

# Longer than any test runs, even on a loaded machine.
ROOM_SECONDS = 1800


def steady_window(room: float = ROOM_SECONDS) -> int:
    """A window length (seconds, at most a day) whose clock-aligned window now has at
    least `room` seconds left: windows of different lengths end at different times, so
    one of the longest always qualifies."""
    now = time.time()
    for window in range(86_400, 3_600, -1):
        if window - now % window >= room:
            return window
    raise AssertionError("no window length has room left")  # pragma: no cover
