"""Endpoint schemas by token hash, most recently used kept. An entry is only a guess: the
store checks its version with every push and answers with the current schema when it
moved on, so a stale entry costs one call and is never applied."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from inlet.store.v1 import store_pb2
from inlet_matcher.planner import PushShape

SCHEMA_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class CachedSchema:
    """A schema and what planning reads of it, worked out once when it arrived."""

    schema: store_pb2.PushSchema
    shape: PushShape


class PushSchemaCache:
    def __init__(self, size: int = SCHEMA_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, CachedSchema] = OrderedDict()

    def get(self, token_hash: bytes) -> CachedSchema | None:
        found = self._entries.get(token_hash)
        if found is not None:
            self._entries.move_to_end(token_hash)
        return found

    def put(self, token_hash: bytes, schema: store_pb2.PushSchema) -> CachedSchema:
        cached = CachedSchema(schema, PushShape.of(schema))
        self._entries[token_hash] = cached
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return cached
