"""Every acknowledged request, and the verdict on what became of it.

An acknowledged item carries a marker value no other item has (an e-mail or a region);
afterwards it must be one stored record holding the values sent, announced by exactly one
`record.*` event (one `webhook-id`, however often that id was delivered).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ack:
    """One item of an acknowledged request."""

    dialect: str  # endpoint | stream | integration | transfer
    status: int  # 200 (stored when answered) or 202 (accepted, processed later)
    marker: str  # the unique value: e-mail or region
    values: Mapping[str, Any]  # field → value as sent (the stored record must hold these)
    request_id: str
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Delivery:
    """One webhook request the receiver got."""

    webhook_id: str
    event_type: str
    data: Mapping[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Verdict:
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)  # markers with no stored record
    wrong_values: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)  # >1 record or >1 event
    undelivered: list[str] = field(default_factory=list)  # stored, but no event arrived
    redelivered: int = 0  # one webhook-id received more than once (at-least-once)
    by_dialect: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.wrong_values or self.duplicated or self.undelivered)

    def summary(self) -> str:
        dialects = ", ".join(f"{k} {v}" for k, v in sorted(self.by_dialect.items()))
        return (
            f"acknowledged {self.acknowledged} ({dialects}); lost {len(self.lost)};"
            f" duplicated {len(self.duplicated)}; wrong values {len(self.wrong_values)};"
            f" undelivered events {len(self.undelivered)};"
            f" webhook redeliveries of one id {self.redelivered}"
        )

    def examples(self, limit: int = 5) -> str:
        parts = []
        for name in ("lost", "duplicated", "wrong_values", "undelivered"):
            found: list[str] = getattr(self, name)
            if found:
                parts.append(f"{name}: {', '.join(found[:limit])}")
        return "; ".join(parts)


class Ledger:
    def __init__(self) -> None:
        self.acks: list[Ack] = []

    def add(self, ack: Ack) -> None:
        self.acks.append(ack)

    def markers(self) -> set[str]:
        return {ack.marker for ack in self.acks}

    def judge(
        self, records: Iterable[Mapping[str, Any]], deliveries: Iterable[Delivery]
    ) -> Verdict:
        """The verdict given every stored record's data and every webhook received."""
        mine = self.markers()
        stored: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for data in records:
            marker = marker_of(data)
            if marker in mine:
                stored[marker].append(data)
        events: dict[str, set[str]] = defaultdict(set)
        seen: Counter[str] = Counter()
        for delivery in deliveries:
            seen[delivery.webhook_id] += 1
            if delivery.event_type.startswith("record."):
                marker = marker_of(delivery.data.get("fields") or {})
                if marker in mine:
                    events[marker].add(delivery.webhook_id)
        verdict = Verdict(redelivered=sum(n - 1 for n in seen.values() if n > 1))
        for ack in self.acks:
            verdict.acknowledged += 1
            verdict.by_dialect[ack.dialect] += 1
            found = stored.get(ack.marker, [])
            if not found:
                verdict.lost.append(f"{ack.dialect}:{ack.marker}")
                continue
            if len(found) > 1 or len(events.get(ack.marker, ())) > 1:
                verdict.duplicated.append(f"{ack.dialect}:{ack.marker}")
            if any(found[0].get(k) != v for k, v in ack.values.items()):
                verdict.wrong_values.append(f"{ack.dialect}:{ack.marker}")
            if not events.get(ack.marker):
                verdict.undelivered.append(f"{ack.dialect}:{ack.marker}")
        return verdict


def marker_of(data: Mapping[str, Any]) -> str:
    """The marker a record (or an event's fields) carries, if it is one of ours."""
    for key in ("email", "region"):
        value = data.get(key)
        if isinstance(value, str) and value.startswith("mx-"):
            return value
    return ""
