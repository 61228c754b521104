"""The matcher's store client: pushes in hand at once go in one CommitPushes call, each
answered with its own result or error, under its own ids."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from google.rpc import status_pb2

from inlet.store.v1 import store_pb2
from inlet_common import requestids
from inlet_common.channels import channel
from inlet_common.errors import InletError, UpstreamError
from inlet_matcher.store_client import GrpcStore
from inlet_matcher.stream import GrpcStreamStore


class FakeStub:
    """CommitPushes answering each push by its idempotency key: "err" fails, else applied."""

    def __init__(self, *, drop: int = 0) -> None:
        self.calls: list[tuple[store_pb2.CommitPushesRequest, Any]] = []
        self.drop = drop

    async def CommitPushes(
        self, request: store_pb2.CommitPushesRequest, **kwargs: Any
    ) -> store_pb2.CommitPushesResponse:
        self.calls.append((request, kwargs["metadata"]))
        results = []
        for push in request.pushes:
            if push.push.idempotency_key == "err":
                status = status_pb2.Status(code=grpc.StatusCode.NOT_FOUND.value[0], message="no")
                results.append(store_pb2.CommitPushResult(error=status))
            else:
                answer = store_pb2.CommitPushResponse()
                answer.record.id = push.request_id
                results.append(store_pb2.CommitPushResult(response=answer))
        return store_pb2.CommitPushesResponse(results=results[self.drop :])


async def client(stub: FakeStub) -> GrpcStore:
    store = GrpcStore(channel("127.0.0.1:9"), 1.0)
    store._stub = stub  # type: ignore[assignment]
    return store


async def push(store: GrpcStore, request_id: str, key: str = "") -> Any:
    with requestids.bound(request_id, "client-1"):
        try:
            return await store.commit_push(store_pb2.CommitPushRequest(idempotency_key=key))
        except InletError as error:
            return error


async def test_concurrent_pushes_share_calls_and_keep_their_own_answers() -> None:
    stub = FakeStub()
    store = await client(stub)
    answers = await asyncio.gather(
        *(push(store, f"req_{i}", "err" if i == 3 else "") for i in range(10))
    )
    # Submitted in one turn of the event loop: one call carries them all.
    assert [len(request.pushes) for request, _ in stub.calls] == [10]
    assert all(metadata == () for _, metadata in stub.calls)
    [(sent, _)] = stub.calls
    assert [(p.request_id, p.client_request_id) for p in sent.pushes] == [
        (f"req_{i}", "client-1") for i in range(10)
    ]
    for i, answer in enumerate(answers):
        if i == 3:
            assert isinstance(answer, UpstreamError)
            assert answer.code == grpc.StatusCode.NOT_FOUND
        else:
            assert answer.record.id == f"req_{i}"


async def test_a_short_answer_fails_every_push_of_the_call_and_hangs_none() -> None:
    store = await client(FakeStub(drop=1))
    answers = await asyncio.gather(push(store, "req_a"), push(store, "req_b"))
    assert all(isinstance(a, InletError) and "answered" in str(a) for a in answers)


async def test_an_unreachable_store_is_unavailable_for_each_push() -> None:
    store = GrpcStore(channel("127.0.0.1:9"), 0.2)
    answers = await asyncio.gather(push(store, "req_a"), push(store, "req_b"))
    assert all(type(a).__name__ == "Unavailable" for a in answers)


class FakeStreamStub:
    """AcceptStreamRequests answering each request by its key: "bad" fails, else stored."""

    def __init__(self) -> None:
        self.calls: list[tuple[store_pb2.AcceptStreamRequestsRequest, Any]] = []

    async def AcceptStreamRequests(
        self, request: store_pb2.AcceptStreamRequestsRequest, **kwargs: Any
    ) -> store_pb2.AcceptStreamRequestsResponse:
        self.calls.append((request, kwargs["metadata"]))
        results = []
        for call in request.requests:
            if call.request.ingest_key == "bad":
                status = status_pb2.Status(
                    code=grpc.StatusCode.UNAUTHENTICATED.value[0], message="no"
                )
                results.append(store_pb2.AcceptStreamRequestResult(error=status))
            else:
                answer = store_pb2.AcceptStreamRequestResponse(request_id=call.request_id)
                results.append(store_pb2.AcceptStreamRequestResult(response=answer))
        return store_pb2.AcceptStreamRequestsResponse(results=results)


async def test_concurrent_stream_accepts_share_calls_and_keep_their_own_answers() -> None:
    stub = FakeStreamStub()
    store = GrpcStreamStore(channel("127.0.0.1:9"), 1.0)
    store._stub = stub  # type: ignore[assignment]

    async def accept(request_id: str, key: str) -> Any:
        with requestids.bound(request_id, "client-1"):
            try:
                return await store.accept(store_pb2.AcceptStreamRequestRequest(ingest_key=key))
            except InletError as error:
                return error

    answers = await asyncio.gather(
        *(accept(f"req_{i}", "bad" if i == 2 else "ik") for i in range(6))
    )
    # Submitted in one turn of the event loop: one call carries them all, without ids.
    assert [len(request.requests) for request, _ in stub.calls] == [6]
    assert all(metadata == () for _, metadata in stub.calls)
    [(sent, _)] = stub.calls
    assert [(c.request_id, c.client_request_id) for c in sent.requests] == [
        (f"req_{i}", "client-1") for i in range(6)
    ]
    for i, answer in enumerate(answers):
        if i == 2:
            assert isinstance(answer, UpstreamError)
            assert answer.code == grpc.StatusCode.UNAUTHENTICATED
        else:
            assert answer.request_id == f"req_{i}"
