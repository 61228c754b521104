"""Stream items normalised before the 202, kept until a worker of the same matcher plans them."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from inlet.store.v1 import store_pb2

# Items kept at most (the oldest request's dropped first): twenty 1,000-item arrays accepted
# and not yet claimed, about 7 MB of small contacts (≈ 350 bytes an item).
MAX_ITEMS = 20_000


@dataclass(frozen=True)
class Judged:
    """A request's items as its accept normalised them, and what they were judged under."""

    schema: store_pb2.StreamSchema
    item_key: str
    single: bool
    normalised: list[dict[str, Any]]


class JudgedItems:
    """Normalised items of accepted requests, by request id.

    Accepting a request normalises every item to judge it; planning it would normalise every
    item again. A worker of the matcher that accepted it takes them from here instead, but
    only when the claim describes exactly what they were judged under (entity type, region,
    references, X-Item-Key): otherwise, or when another matcher claims the request, or its
    entry was dropped, it is planned from its stored items as before."""

    def __init__(self, max_items: int = MAX_ITEMS) -> None:
        self.max_items = max_items
        self._entries: OrderedDict[str, Judged] = OrderedDict()
        self._items = 0
        self.taken = 0  # requests planned from here

    def put(self, request_id: str, judged: Judged, *, replacing: Judged | None = None) -> bool:
        """Keep `judged` (before the request is stored, so no claim can come first); False
        when another request holds the id (only a direct caller can send one twice: the
        store keeps the first, and neither is kept here)."""
        held = self._entries.get(request_id)
        if held is not None and held is not replacing:
            self.discard(request_id, held)
            return False
        if not request_id or len(judged.normalised) > self.max_items:
            return False
        self.discard(request_id, replacing)
        self._entries[request_id] = judged
        self._items += len(judged.normalised)
        while self._items > self.max_items:
            _, dropped = self._entries.popitem(last=False)
            self._items -= len(dropped.normalised)
        return True

    def discard(self, request_id: str, judged: Judged | None) -> None:
        """Forget `judged` (a request not stored after all), if it is still kept."""
        if judged is not None and self._entries.get(request_id) is judged:
            del self._entries[request_id]
            self._items -= len(judged.normalised)

    def take(self, claimed: store_pb2.ClaimedStreamRequest) -> list[dict[str, Any]] | None:
        """The claimed request's normalised items, when they still hold; None otherwise."""
        found = self._entries.pop(claimed.request_id, None)
        if found is None:
            return None
        self._items -= len(found.normalised)
        schema = found.schema
        if (
            claimed.item_key != found.item_key
            or claimed.single != found.single
            or claimed.default_region != schema.default_region
            or claimed.entity_type != schema.entity_type
            or claimed.reference_type_ids != schema.reference_type_ids
        ):
            return None
        self.taken += 1
        return found.normalised

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def items(self) -> int:
        return self._items
