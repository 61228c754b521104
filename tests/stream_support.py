"""Helpers shared by the stream-ingest tests: a "sales" stream and its ingest key."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format

from inlet.admin.v1 import admin_pb2, streams_pb2
from inlet.type.v1 import entity_pb2
from inlet_devstack.demo import DemoSeed

F = entity_pb2.Field
SALES = entity_pb2.EntityType(
    slug="sales",
    display_name="Sales",
    fields=[
        F(slug="region", display_name="Region", type=entity_pb2.FIELD_TYPE_TEXT),
        F(slug="revenue", display_name="Revenue", type=entity_pb2.FIELD_TYPE_NUMBER),
        F(slug="target", display_name="Target", type=entity_pb2.FIELD_TYPE_NUMBER),
        F(slug="updated_at", display_name="Updated", type=entity_pb2.FIELD_TYPE_DATETIME),
    ],
)

SEED_SINGLE = {
    "region": "North",
    "revenue": 142000,
    "target": 130000,
    "updated_at": "2026-04-06T10:30:00Z",
}
SEED_BATCH = [
    {"region": "North", "revenue": 142000, "target": 130000},
    {"region": "South", "revenue": 98000, "target": 110000},
    {"region": "East", "revenue": 156000, "target": 140000},
]


@dataclass(frozen=True)
class SalesStream:
    name: str  # workspaces/{w}/streams/{s}
    slug: str
    key: str  # the whole ingest key
    key_name: str
    entity_type_id: str


async def sales_stream(
    admin: Any,
    streams: Any,
    seed: DemoSeed,
    *,
    rate_limit: int = 0,
    rate_window_seconds: int = 0,
    entity_type: entity_pb2.EntityType = SALES,
) -> SalesStream:
    """A fresh stream on a "sales" entity type (created once per workspace) and a key."""
    try:
        made = await admin.CreateEntityType(
            admin_pb2.CreateEntityTypeRequest(parent=seed.workspace, entity_type=entity_type),
            metadata=seed.auth,
        )
        type_id = made.entity_type.id
    except grpc.aio.AioRpcError:  # already there: read it
        got = await admin.GetEntityType(
            admin_pb2.GetEntityTypeRequest(name=f"{seed.workspace}/entityTypes/{entity_type.slug}"),
            metadata=seed.auth,
        )
        type_id = got.entity_type.id
    slug = f"sales-{secrets.token_hex(3)}"
    stream = await streams.CreateStream(
        streams_pb2.CreateStreamRequest(
            parent=seed.workspace,
            stream_id=slug,
            stream=streams_pb2.Stream(entity_type=entity_type.slug, default_region="NO"),
        ),
        metadata=seed.auth,
    )
    key = await streams.CreateIngestKey(
        streams_pb2.CreateIngestKeyRequest(
            parent=stream.stream.name,
            ingest_key=streams_pb2.IngestKey(
                display_name="test", rate_limit=rate_limit, rate_window_seconds=rate_window_seconds
            ),
        ),
        metadata=seed.auth,
    )
    return SalesStream(stream.stream.name, slug, key.secret, key.ingest_key.name, type_id)


async def records_of(pool: Any, entity_type_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id::text, data FROM records WHERE entity_type_id = %s ORDER BY create_time",
            (entity_type_id,),
        )
        return [{"id": r[0], **r[1]} for r in await cur.fetchall()]


async def until(check: Any, *, within: float = 15.0, every: float = 0.02) -> Any:
    """Poll `check()` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(every)


def as_dict(message: Any) -> dict[str, Any]:
    found: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return found
