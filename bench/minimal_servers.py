"""The minimal path's two processes: `http GRPC_ADDRESS` (uvicorn + httptools, as the
gateway) and `grpc DATABASE_URL` (grpc.aio + a psycopg pool, as the store). Each prints
its port on its first line of output, then serves until killed."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import grpc
import orjson
import uvicorn
import uvloop

from inlet_common import database
from inlet_gateway.server import bind_socket, bound_port
from inlet_gateway.turnwrites import TurnWritesProtocol

METHOD = "/bench.Minimal/Put"
TABLE = """
CREATE TABLE IF NOT EXISTS bench_minimal (
    key  text PRIMARY KEY,
    body json NOT NULL,
    hits integer NOT NULL DEFAULT 1
)"""
# One statement per request: insert, or count a repeat of the key.
UPSERT = """
INSERT INTO bench_minimal AS m (key, body) VALUES (%s, %s)
ON CONFLICT (key) DO UPDATE SET body = excluded.body, hits = m.hits + 1
RETURNING m.hits = 1"""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Scope]]
Send = Callable[[Scope], Awaitable[None]]


async def serve_grpc(database_url: str, pool_size: int) -> None:
    pool = await database.open_pool(database_url, min_size=pool_size, max_size=pool_size)
    async with pool.connection() as conn:
        await conn.execute(TABLE)

    async def put(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        body = orjson.loads(request)
        async with pool.connection() as conn:
            cur = await conn.execute(UPSERT, (body["fields"]["email"], request.decode()))
            found = await cur.fetchone()
        return b"created" if found and found[0] else b"updated"

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Minimal", {"Put": grpc.unary_unary_rpc_method_handler(put)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    await server.wait_for_termination()


def http_app(grpc_address: str) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    channel: grpc.aio.Channel | None = None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal channel
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if channel is None:
            channel = grpc.aio.insecure_channel(grpc_address)
        call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        action = await call(body, timeout=30)
        answer = orjson.dumps({"record": {"action": action.decode()}})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app


async def serve_http(grpc_address: str) -> None:
    sock = bind_socket("127.0.0.1", 0)
    config = uvicorn.Config(
        http_app(grpc_address),
        # The gateway's protocol without its head deadline: an answer in one send, as there.
        http=TurnWritesProtocol,
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises the startup error
        await asyncio.sleep(0.01)
    sys.stdout.write(f"{bound_port(sock)}\n")
    sys.stdout.flush()
    await task


def main(argv: list[str]) -> int:
    role, target = argv[0], argv[1]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        if role == "grpc":
            runner.run(serve_grpc(target, int(argv[2])))
        else:
            runner.run(serve_http(target))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
