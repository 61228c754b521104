"""An in-memory ClaimRepository for use-case tests: requests waiting, leases by the clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from inlet_store.domain import EntityTypeDef
from inlet_store.inbox.claims import Claimed


@dataclass
class FakeClaims:
    """`waiting`: request ids with their item counts, oldest first."""

    waiting: list[tuple[str, int]] = field(default_factory=list)
    leased: dict[str, float] = field(default_factory=dict)  # id → lease end (monotonic)
    calls: int = 0

    async def claim(self, *, limit: int, max_items: int, lease_seconds: int) -> list[Claimed]:
        self.calls += 1
        now = time.monotonic()
        expired = [(i, 1) for i, until in self.leased.items() if until < now]
        taken: list[Claimed] = []
        total = 0
        for request_id, items in expired + self.waiting:
            if len(taken) == limit or (max_items and taken and total + items > max_items):
                break
            total += items
            self.leased[request_id] = now + lease_seconds
            no_type = EntityTypeDef("", "w", "", "")
            taken.append(Claimed(request_id, "lease", "w", "", no_type, "", "[]", False, []))
        chosen = {c.request_id for c in taken}
        self.waiting = [w for w in self.waiting if w[0] not in chosen]
        return taken

    async def next_lease_expiry(self) -> float | None:
        if not self.leased:
            return None
        return min(self.leased.values()) - time.monotonic()
