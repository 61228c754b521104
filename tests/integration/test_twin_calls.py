"""TwinCallService over real gRPC: twin calls sent together answer exactly as each would
alone, and an upstream without it is called one call at a time."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.api import httpbody_pb2

from inlet.edge.v1 import twin_calls_pb2
from inlet.ingest.v1 import ingest_pb2
from inlet_common import twincalls
from inlet_common.channels import channel
from inlet_common.httprender import HTTP_CODE_KEY
from inlet_common.requestids import REQUEST_ID_KEY
from inlet_devstack.demo import DemoSeed
from tests.integration.conftest import Servers
from tests.polling import until

PUSH = "/inlet.ingest.v1.IngestServiceHttp/PushEndpoint"


def push_call(token: str, body: bytes, request_id: str) -> twincalls._Pending:
    request = ingest_pb2.PushEndpointRequest(
        token=token, body=httpbody_pb2.HttpBody(content_type="application/json", data=body)
    )
    metadata = ((REQUEST_ID_KEY, request_id), ("x-inlet-content-type", "application/json"))
    return twincalls._Pending(PUSH, request.SerializeToString(), metadata, 10.0)


async def together(caller: twincalls.TwinCaller, calls: list[twincalls._Pending]) -> list[Any]:
    """The calls made in one turn of the event loop: they go in one batch."""
    return list(
        await asyncio.gather(
            *(
                caller.call(c.method, c.request, metadata=c.metadata, deadline=c.timeout)
                for c in calls
            ),
            return_exceptions=True,
        )
    )


async def alone(caller: twincalls.TwinCaller, call: twincalls._Pending) -> Any:
    """The call as a plain unary call of its twin, without batching."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await caller._send_alone(call, future)
    try:
        return await future
    except grpc.aio.AioRpcError as error:
        return error


def masked(body: bytes) -> httpbody_pb2.HttpBody:
    found = httpbody_pb2.HttpBody.FromString(body)
    found.data = re.sub(rb"req_(together|alone)\d", b"req_x", found.data)
    return found


@contextlib.asynccontextmanager
async def twin_server(twins: grpc.GenericRpcHandler[Any, Any]) -> AsyncIterator[grpc.aio.Channel]:
    """A real server running `twins` behind TwinCallService, and a channel to it."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((twincalls.TwinCallServer([twins], []).handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with channel(f"127.0.0.1:{port}") as ch:
            yield ch
    finally:
        await server.stop(None)


def shown(initial: Any) -> list[tuple[str, Any]]:
    """Initial metadata as the client sees it, without what differs per call anyway."""
    return sorted((k, v) for k, v in initial if k != REQUEST_ID_KEY)


async def test_calls_sent_together_answer_as_each_alone(servers: Servers, seeded: DemoSeed) -> None:
    token = seeded.tokens["contact"]
    email = f"{secrets.token_hex(4)}@acme.no"
    bodies = [
        b'{"fields": {"email": "%s", "name": "Ola"}}' % email.encode(),
        b'{"fields": {"email": 7}}',  # a bad field: 400 in the dialect
        b"{not json",
        b'{"fields": {"email": "%s"}}' % email.encode(),
    ]
    async with channel(servers.matcher_addr) as ch:
        caller = twincalls.TwinCaller(ch)
        batched = await together(
            caller, [push_call(token, body, f"req_together{i}") for i, body in enumerate(bodies)]
        )
        single = [
            await alone(caller, push_call(token, body, f"req_alone{i}"))
            for i, body in enumerate(bodies)
        ]
        # The unknown token, alone and together.
        unknown = push_call("nope", bodies[0], "req_unknown")
        [unknown_together] = await together(caller, [unknown])
        unknown_alone = await alone(caller, unknown)

    codes = []
    for one, other in [*zip(batched, single, strict=True), (unknown_together, unknown_alone)]:
        assert not isinstance(one, Exception), one
        assert not isinstance(other, Exception), other
        body, initial = one
        body_alone, initial_alone = other
        codes.append(dict(initial)[HTTP_CODE_KEY])
        if codes[-1] == "200":
            # The first of each pair created the record; the others matched it.
            action = httpbody_pb2.HttpBody.FromString(body).data
            assert b'"action"' in action
            continue
        # The same call under another request id: the same answer but for the id.
        assert masked(body) == masked(body_alone)
        assert shown(initial) == shown(initial_alone)
    assert codes == ["200", "400", "400", "200", "404"]


@pytest.mark.parametrize("count", [0, twincalls.MAX_CALLS + 1])
async def test_no_call_or_too_many_is_refused_naming_calls(servers: Servers, count: int) -> None:
    request = twin_calls_pb2.CallTwinsRequest(calls=[twin_calls_pb2.TwinCall(method=PUSH)] * count)
    async with channel(servers.matcher_addr) as ch:
        call_twins = ch.unary_stream(
            twincalls.CALL_TWINS,
            request_serializer=twin_calls_pb2.CallTwinsRequest.SerializeToString,
            response_deserializer=twin_calls_pb2.CallTwinsResponse.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call_twins(request):
                pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "calls" in (caught.value.details() or "")


async def test_a_method_that_is_no_twin_is_unimplemented_and_runs_nothing(
    servers: Servers,
) -> None:
    async with channel(servers.matcher_addr) as ch:
        caller = twincalls.TwinCaller(ch)
        internal = twincalls._Pending("/inlet.ingest.v1.IngestService/PushEndpoint", b"", (), 5.0)
        [answer] = await together(caller, [internal])
    assert isinstance(answer, grpc.aio.AioRpcError)
    assert answer.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_an_upstream_without_batches_is_called_one_call_at_a_time() -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await context.send_initial_metadata(((HTTP_CODE_KEY, "201"),))
        return request[::-1]

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "test.EchoHttp", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with channel(f"127.0.0.1:{port}") as ch:
            caller = twincalls.TwinCaller(ch)
            answers = await together(
                caller,
                [twincalls._Pending("/test.EchoHttp/Echo", b, (), 5.0) for b in (b"ab", b"cd")],
            )
    finally:
        await server.stop(None)
    assert [(a[0], dict(a[1])[HTTP_CODE_KEY]) for a in answers if not isinstance(a, Exception)] == [
        (b"ba", "201"),
        (b"dc", "201"),
    ]


async def test_a_slow_call_holds_up_no_other_call_of_its_batch() -> None:
    release = asyncio.Event()

    async def slow(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await release.wait()
        return b"slow"

    async def fast(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return b"fast"

    twins = grpc.method_handlers_generic_handler(
        "test.SlowHttp",
        {
            "Slow": grpc.unary_unary_rpc_method_handler(slow),
            "Fast": grpc.unary_unary_rpc_method_handler(fast),
        },
    )
    async with twin_server(twins) as ch:
        caller = twincalls.TwinCaller(ch)

        def call(method: str) -> asyncio.Future[Any]:
            return asyncio.ensure_future(
                caller.call(f"/test.SlowHttp/{method}", b"", metadata=(), deadline=30.0)
            )

        # Made in one turn of the event loop: one batch.
        slow_call, fast_call = call("Slow"), call("Fast")
        assert (await fast_call)[0] == b"fast"
        assert not slow_call.done()
        # A call made while that batch is out goes past its pace, answered at once.
        assert (await call("Fast"))[0] == b"fast"
        assert not slow_call.done()
        # Each call keeps its own deadline.
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await caller.call("/test.SlowHttp/Slow", b"", metadata=(), deadline=0.2)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        release.set()
        assert (await slow_call)[0] == b"slow"


def echo_when(release: asyncio.Event) -> grpc.GenericRpcHandler[Any, Any]:
    """Twins of test.WaitHttp whose Wait answers with its request once `release` is set."""

    async def waiting(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await release.wait()
        return request

    return grpc.method_handlers_generic_handler(
        "test.WaitHttp", {"Wait": grpc.unary_unary_rpc_method_handler(waiting)}
    )


async def test_a_caller_that_gives_up_leaves_its_batch_mates_answered() -> None:
    release = asyncio.Event()
    async with twin_server(echo_when(release)) as ch:
        caller = twincalls.TwinCaller(ch)

        def call(request: bytes) -> asyncio.Future[Any]:
            return asyncio.ensure_future(
                caller.call("/test.WaitHttp/Wait", request, metadata=(), deadline=30.0)
            )

        # Made in one turn of the event loop: one batch, of which one caller goes away.
        kept, left = call(b"kept"), call(b"left")
        await asyncio.sleep(0)
        left.cancel()
        with pytest.raises(asyncio.CancelledError):
            await left
        release.set()
        assert (await kept)[0] == b"kept"
        assert (await call(b"next"))[0] == b"next"


async def test_calls_done_together_are_answered_in_one_message() -> None:
    release = asyncio.Event()
    async with twin_server(echo_when(release)) as ch:
        call_twins = ch.unary_stream(
            "/inlet.edge.v1.TwinCallService/CallTwins",
            request_serializer=twin_calls_pb2.CallTwinsRequest.SerializeToString,
            response_deserializer=twin_calls_pb2.CallTwinsResponse.FromString,
        )
        request = twin_calls_pb2.CallTwinsRequest(
            calls=[
                twin_calls_pb2.TwinCall(method="/test.WaitHttp/Wait", request=bytes([n]))
                for n in range(5)
            ]
        )
        stream = call_twins(request, timeout=30.0)
        # All five wait on one event (as pushes on one store commit): released in one
        # turn, they are answered in one message, each tagged with its own index.
        release.set()
        messages = [message async for message in stream]
    assert len(messages) == 1
    assert [(r.index, r.response) for r in messages[0].replies] == [
        (n, bytes([n])) for n in range(5)
    ]


async def test_enough_calls_go_out_while_batches_are_out_up_to_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only an answer, or enough calls, may send the next batch here (not the pace).
    monkeypatch.setattr(twincalls, "PACE_SECONDS", 60.0)
    release = asyncio.Event()

    async def waiting(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await release.wait()
        return request

    twins = grpc.method_handlers_generic_handler(
        "test.WaitHttp", {"Wait": grpc.unary_unary_rpc_method_handler(waiting)}
    )
    async with twin_server(twins) as ch:
        caller = twincalls.TwinCaller(ch, max_batch=4, max_in_flight=3, min_batch=4)

        def call(n: int) -> asyncio.Future[Any]:
            return asyncio.ensure_future(
                caller.call("/test.WaitHttp/Wait", bytes([n]), metadata=(), deadline=30.0)
            )

        first = call(0)  # a lone call goes at once
        await until(lambda: len(caller._sending) == 1, what="the lone call sent")
        more = [call(n) for n in range(1, 14)]  # 13 more while it is out
        # Two more batches of 4 go at once (3 out in all); the rest wait for an answer.
        await until(lambda: len(caller._sending) == 3, what="three batches out")
        assert len(caller._pending) == 5
        release.set()
        answers = await asyncio.gather(first, *more)
    assert [a[0] for a in answers] == [bytes([n]) for n in range(14)]


async def test_a_caller_is_idle_only_with_no_call_waiting_or_out(
    servers: Servers, seeded: DemoSeed
) -> None:
    body = b'{"fields": {"email": "%s"}}' % f"{secrets.token_hex(4)}@acme.no".encode()
    async with channel(servers.matcher_addr) as ch:
        caller = twincalls.TwinCaller(ch)
        assert caller.idle

        pending = push_call(seeded.tokens["contact"], body, "req_idle")
        answer = asyncio.create_task(
            caller.call(pending.method, pending.request, metadata=pending.metadata, deadline=10.0)
        )
        await asyncio.sleep(0)  # the call is queued and its batch on its way
        assert not caller.idle

        await answer
        await until(lambda: caller.idle, what="the caller idle again")
