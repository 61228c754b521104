"""Endpoint schemas by token hash, most recently used kept. An entry is only a guess: the
store checks its version with every push and answers with the current schema when it
moved on, so a stale entry costs one call and is never applied."""

from __future__ import annotations

from collections import OrderedDict

from inlet.store.v1 import store_pb2

SCHEMA_CACHE_SIZE = 10_000


class PushSchemaCache:
    def __init__(self, size: int = SCHEMA_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, store_pb2.PushSchema] = OrderedDict()

    def get(self, token_hash: bytes) -> store_pb2.PushSchema | None:
        found = self._entries.get(token_hash)
        if found is not None:
            self._entries.move_to_end(token_hash)
        return found

    def put(self, token_hash: bytes, schema: store_pb2.PushSchema) -> None:
        self._entries[token_hash] = schema
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
