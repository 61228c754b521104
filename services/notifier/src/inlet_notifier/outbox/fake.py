"""An in-memory OutboxRepository for use-case tests: events in a list, endpoints per workspace."""

from __future__ import annotations

from dataclasses import dataclass, field

from inlet_notifier.outbox.repository import Taken


@dataclass
class FakeOutbox:
    """`events`: (id, workspace) in outbox order; `subscribers`: endpoints per workspace."""

    events: list[tuple[str, str]] = field(default_factory=list)
    subscribers: dict[str, list[str]] = field(default_factory=dict)
    deliveries: list[tuple[str, str]] = field(default_factory=list)
    takes: int = 0
    fail_next: Exception | None = None

    async def take(self, limit: int) -> Taken:
        self.takes += 1
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        batch, self.events = self.events[:limit], self.events[limit:]
        made = [(event, ep) for event, ws in batch for ep in self.subscribers.get(ws, [])]
        self.deliveries += made
        return Taken(len(batch), len(made))
