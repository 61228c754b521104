"""A streaming answer written as Server-Sent Events, one message at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import google.rpc.status_pb2 as status_pb2
import grpc
from google.api import httpbody_pb2
from google.protobuf import message

from inlet_common import sse
from inlet_common.errors import status_from_rpc_error
from inlet_gateway import edge_headers
from inlet_gateway.answers import Answer, EdgeRequest, client_request_id_header
from inlet_gateway.sse import Streaming

Event = dict[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]
Render = Callable[[str | None, status_pb2.Status, EdgeRequest], Answer]

# The end of a server-streaming call (grpc's stubs do not declare it).
EOF: Any = cast("Any", grpc.aio).EOF


async def send_stream(
    streaming: Streaming,
    request: EdgeRequest,
    receive: Receive,
    send: Send,
    client_id: str,
    render: Render,
) -> None:
    """Each message as an event, written as it comes: the next is read only once the
    client took this one, so a slow reader slows only its own call (whose server drops
    it past its buffer), and the edge holds one message per connection."""
    call = streaming.call
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", sse.CONTENT_TYPE.encode()),
                (b"x-request-id", request.request_id.encode()),
                *client_request_id_header(client_id),
                *((k.encode(), v.encode()) for k, v in sse.HEADERS),
                edge_headers.NOSNIFF,
            ],
        }
    )

    async def watch_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        call.cancel()

    watcher = asyncio.get_running_loop().create_task(watch_disconnect())
    try:
        chunk = first_chunk(streaming.first)
        while True:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            try:
                message_ = await call.read()
            except asyncio.CancelledError:
                if watcher.done():
                    return  # the client went away
                raise
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.CANCELLED:
                    return
                status = status_from_rpc_error(error)
                rendered = render(streaming.rpc, status, request)
                chunk = sse.error_event(rendered.body)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                break
            if message_ is EOF:
                break
            chunk = chunk_of(message_)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        call.cancel()
        raise
    except OSError:
        call.cancel()
    finally:
        watcher.cancel()
        call.cancel()


def first_chunk(first: message.Message) -> bytes:
    """A twin's first event as it rendered it; a typed call's (the console's) rendered."""
    if isinstance(first, httpbody_pb2.HttpBody):
        return first.data
    return sse.opening() + sse.event(first)


def chunk_of(event: message.Message) -> bytes:
    return event.data if isinstance(event, httpbody_pb2.HttpBody) else sse.event(event)
