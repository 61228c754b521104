"""On a stack with a tiny feed buffer and frequent heartbeats: a slow reader (SSE or gRPC) is
dropped,
never held (it is sent what was queued, then `dropped` with the position to resume after;
resuming from there gets every later change exactly once), and an open feed ends when its
read key is revoked."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import grpc
import httpx
import pytest

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc, streams_pb2, streams_pb2_grpc
from inlet.ingest.v1 import feed_pb2, feed_pb2_grpc
from inlet.type.v1 import entity_pb2
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.demo import bearer
from inlet_devstack.ports import Ports
from inlet_devstack.stack import Stack, running
from tests.feed_support import Events, FedStream, fed_stream, read_headers
from tests.messages import key_headers
from tests.polling import until
from tests.stream_support import finished_over_http

pytestmark = pytest.mark.e2e

BLOB = entity_pb2.EntityType(
    slug="blob",
    display_name="Blob",
    fields=[
        entity_pb2.Field(slug="region", type=entity_pb2.FIELD_TYPE_TEXT),
        entity_pb2.Field(slug="note", type=entity_pb2.FIELD_TYPE_TEXT),
    ],
)
# Large changes fill the transport's buffers quickly, so the reader falls behind soon.
NOTE = "x" * 200_000
PER_PUSH = 4


@pytest.fixture(scope="module")
async def tiny_stack(database_url: str) -> AsyncIterator[Stack]:
    log_dir = Path(tempfile.mkdtemp(prefix="inlet-feed-logs-"))
    env = {
        "INLET_FEED_BUFFER": "2",
        "INLET_FEED_STALL_SECONDS": "0.2",
        "INLET_FEED_HEARTBEAT_SECONDS": "0.3",
    }
    async with running(
        database_url, ports=Ports(0, 0, 0, 0), log_dir=log_dir, extra_env=env
    ) as started:
        yield started


@pytest.fixture
async def blob(tiny_stack: Stack) -> FedStream:
    async with channel(tiny_stack.address("store")) as ch:
        admin = admin_pb2_grpc.AdminServiceStub(ch)
        seed = await demo.seed(
            admin,
            bootstrap_token=tiny_stack.bootstrap_token,
            workspace_slug=f"slow{secrets.token_hex(6)}",
        )
        await admin.CreateEntityType(
            admin_pb2.CreateEntityTypeRequest(parent=seed.workspace, entity_type=BLOB),
            metadata=seed.auth,
        )
        return await fed_stream(
            admin, streams_pb2_grpc.StreamAdminServiceStub(ch), seed, entity_type=BLOB
        )


def dropped_logged(stack: Stack) -> bool:
    log_path = stack.services["store"].log_path
    assert log_path is not None
    return "feed reader dropped" in log_path.read_text(errors="replace")


async def test_a_slow_reader_is_dropped_and_resumes(tiny_stack: Stack, blob: FedStream) -> None:
    # A reader that stops reading: once the transport's buffers are full (TCP's, and
    # gRPC's between the store and the gateway), the store's buffer fills.
    pushed: list[str] = []
    feed_path = f"/api/streams/{blob.sales.slug}/feed"
    async with (
        httpx.AsyncClient(base_url=tiny_stack.gateway_url, timeout=60) as reader,
        httpx.AsyncClient(base_url=tiny_stack.gateway_url, timeout=60) as writer,
        reader.stream("GET", feed_path, headers=read_headers(blob.read_key)) as response,
    ):
        assert response.status_code == 200
        events = Events(response)
        first = await events.next()
        assert first is not None
        assert first.comment is not None

        async def push_until_dropped() -> bool | None:
            items = [{"region": f"r{len(pushed)}-{i}", "note": NOTE} for i in range(PER_PUSH)]
            answer = await writer.post(
                "/api/ingest",
                json=items,
                headers=key_headers(blob.sales.key, **{"X-Item-Key": "region"}),
            )
            assert answer.status_code == 202, answer.text
            pushed.append(answer.json()["data"]["request_id"])
            return True if dropped_logged(tiny_stack) else None

        await until(push_until_dropped, within=90, what="the slow reader dropped", every=0.2)
        for request_id in pushed:
            await finished_over_http(writer, blob.sales.key, request_id)
        total = len(pushed) * PER_PUSH
        # Ingestion went on meanwhile: every item was applied.
        seen: list[int] = []
        while True:
            got = await events.next(within=30)
            assert got is not None, "the dropped feed ended without `dropped`"
            if got.comment is not None:
                continue
            if got.event == "dropped":
                break
            assert got.event == "change"
            seen.append(int(got.id or 0))
        assert got.id is not None
        dropped_at = int(got.id)
        assert got.json()["position"] == str(dropped_at)
        assert seen[-1] == dropped_at
        assert await events.next(within=30) is None  # the call ended
        assert dropped_at < total

    # Resuming (again, whenever this reader is dropped too) gets the rest exactly once.
    async with httpx.AsyncClient(base_url=tiny_stack.gateway_url, timeout=60) as client:
        resume_at = dropped_at
        while resume_at < total:
            async with client.stream(
                "GET",
                feed_path,
                headers=read_headers(blob.read_key, **{"Last-Event-ID": str(resume_at)}),
            ) as again:
                assert again.status_code == 200
                more = Events(again)
                while resume_at < total:
                    got = await more.next(within=30)
                    assert got is not None
                    if got.comment is not None:
                        continue
                    if got.event == "dropped":
                        break
                    seen.append(int(got.id or 0))
                    resume_at = seen[-1]
    assert seen == list(range(1, total + 1))


async def test_an_open_feed_ends_when_its_read_key_is_revoked(
    tiny_stack: Stack, blob: FedStream
) -> None:
    async with (
        channel(tiny_stack.address("store")) as ch,
        httpx.AsyncClient(base_url=tiny_stack.gateway_url, timeout=60) as client,
        client.stream(
            "GET",
            f"/api/streams/{blob.sales.slug}/feed",
            headers=read_headers(blob.read_key),
        ) as response,
    ):
        assert response.status_code == 200
        events = Events(response)
        first = await events.next()
        assert first is not None
        assert first.comment is not None
        await streams_pb2_grpc.StreamAdminServiceStub(ch).RevokeReadKey(
            streams_pb2.RevokeReadKeyRequest(name=blob.read_key_name),
            metadata=blob.auth,
        )
        while True:
            got = await events.next(within=30)
            assert got is not None, "the feed ended without an error event"
            if got.comment is None:
                break
        assert got.event == "error"
        assert got.json()["error"]["code"] == "UNAUTHORIZED"
        assert await events.next(within=30) is None


async def _message(call: Any) -> feed_pb2.WatchStreamResponse:
    got = await call.read()
    assert isinstance(got, feed_pb2.WatchStreamResponse), got
    return got


async def test_a_slow_grpc_reader_is_dropped_and_resumes(
    tiny_stack: Stack, blob: FedStream
) -> None:
    """The same over the server-streaming RPC internal callers use."""
    pushed: list[str] = []
    async with (
        channel(tiny_stack.address("store")) as ch,
        httpx.AsyncClient(base_url=tiny_stack.gateway_url, timeout=60) as writer,
    ):
        stub = feed_pb2_grpc.StreamFeedServiceStub(ch)
        slow = stub.WatchStream(
            feed_pb2.WatchStreamRequest(stream=blob.sales.slug), metadata=bearer(blob.read_key)
        )
        assert (await _message(slow)).WhichOneof("event") == "heartbeat"
        logged_before = dropped_logged(tiny_stack)

        async def push_until_dropped() -> bool | None:
            items = [{"region": f"g{len(pushed)}-{i}", "note": NOTE} for i in range(PER_PUSH)]
            answer = await writer.post(
                "/api/ingest",
                json=items,
                headers=key_headers(blob.sales.key, **{"X-Item-Key": "region"}),
            )
            assert answer.status_code == 202, answer.text
            pushed.append(answer.json()["data"]["request_id"])
            log_path = tiny_stack.services["store"].log_path
            assert log_path is not None
            drops = log_path.read_text(errors="replace").count("feed reader dropped")
            return True if drops > int(logged_before) else None

        await until(push_until_dropped, within=90, what="the slow gRPC reader dropped", every=0.2)
        for request_id in pushed:
            await finished_over_http(writer, blob.sales.key, request_id)
        seen: list[int] = []
        while True:
            got = await _message(slow)
            kind = got.WhichOneof("event")
            if kind == "heartbeat":
                continue
            if kind == "dropped":
                break
            assert kind == "change"
            seen.append(got.change.position)
        dropped_at = got.dropped.position
        assert seen
        assert seen[-1] == dropped_at
        assert await slow.read() is cast(Any, grpc.aio).EOF  # the call ended
        # Resuming after the dropped position (again, if dropped again) gets the rest once.
        total_after = seen[0] - 1 + len(pushed) * PER_PUSH
        resume_at = dropped_at
        while resume_at < total_after:
            again = stub.WatchStream(
                feed_pb2.WatchStreamRequest(stream=blob.sales.slug, after_position=resume_at),
                metadata=bearer(blob.read_key),
            )
            while resume_at < total_after:
                got = await _message(again)
                kind = got.WhichOneof("event")
                if kind == "heartbeat":
                    continue
                if kind == "dropped":
                    break
                seen.append(got.change.position)
                resume_at = seen[-1]
            again.cancel()
    assert seen == list(range(seen[0], total_after + 1))
