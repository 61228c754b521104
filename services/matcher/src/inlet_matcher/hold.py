"""A test-only pause of the stream workers, so a test can kill the matcher mid-request
deterministically: after `after_chunks` applied chunks, every worker that applies one
more waits until the `release` file exists (INLET_TEST_HOLD_AFTER_CHUNKS and
INLET_TEST_HOLD_FILE; unset, no Hold exists and the workers skip it)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05


@dataclass
class Hold:
    after_chunks: int
    release: Path
    applied: int = 0

    @property
    def held_marker(self) -> Path:
        """Created when the hold starts: what a test waits for before it acts."""
        return self.release.with_name(self.release.name + ".held")

    async def chunk_applied(self) -> None:
        self.applied += 1
        if self.applied < self.after_chunks:
            return
        log.warning("stream workers held (test hook)", extra={"chunks": self.applied})
        self.held_marker.touch()
        # Released by another process (a file), so there is no event to wait on.
        while not self.release.exists():  # noqa: ASYNC110
            await asyncio.sleep(_POLL_SECONDS)
