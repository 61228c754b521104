"""Assembling the store: pool, use cases and servicers, started on a gRPC server."""

from __future__ import annotations

from typing import Any

import grpc
from psycopg_pool import AsyncConnectionPool

from inlet.admin.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    integrations_pb2,
    integrations_pb2_grpc,
    push_pb2,
    push_pb2_grpc,
    streams_pb2,
    streams_pb2_grpc,
)
from inlet.ingest.v1 import feed_pb2, feed_pb2_grpc
from inlet.store.v1 import store_pb2, store_pb2_grpc
from inlet_common import database, grpcserver
from inlet_store.admin.auth import Authenticator
from inlet_store.admin.integrations import IntegrationAdmin
from inlet_store.admin.integrations_server import IntegrationAdminServicer
from inlet_store.admin.push import PushAdmin
from inlet_store.admin.push_server import PushAdminServicer
from inlet_store.admin.server import AdminServicer
from inlet_store.admin.session_signer import SessionSigner
from inlet_store.admin.streams import StreamAdmin
from inlet_store.admin.streams_server import StreamAdminServicer
from inlet_store.admin.use_cases import Admin
from inlet_store.external import External
from inlet_store.feed import Feed, FeedSettings
from inlet_store.feed_hub import FeedHub
from inlet_store.feed_server import StreamFeedServicer
from inlet_store.inbox import Inbox
from inlet_store.inbox.waiting import Wakeups
from inlet_store.service import Store
from inlet_store.transfers import Transfers
from inlet_store.transfers_server import PushStoreServicer

SERVICE_NAMES = (
    store_pb2.DESCRIPTOR.services_by_name["StoreService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    streams_pb2.DESCRIPTOR.services_by_name["StreamAdminService"].full_name,
    push_pb2.DESCRIPTOR.services_by_name["PushAdminService"].full_name,
    integrations_pb2.DESCRIPTOR.services_by_name["IntegrationAdminService"].full_name,
    feed_pb2.DESCRIPTOR.services_by_name["StreamFeedService"].full_name,
)


async def open_pool(url: str, *, min_size: int = 2, max_size: int = 20) -> AsyncConnectionPool[Any]:
    # Outbox events, inbox requests and activity entries keep the writer's trace.
    return await database.open_pool(url, min_size=min_size, max_size=max_size, carry_trace=True)


async def start(
    pool: AsyncConnectionPool[Any],
    address: str,
    *,
    bootstrap_token: str | None = None,
    idempotency_ttl_seconds: int = 86400,
    signer: SessionSigner | None = None,
    feed: FeedSettings | None = None,
    hub: FeedHub | None = None,
    wakeups: Wakeups | None = None,
) -> grpcserver.Service:
    """Serve StoreService and the admin services over `pool` on `address` (port 0: any).

    `bootstrap_token` authorises creating workspaces; without one, none can be created
    over the API. `signer` (the notifier) keeps push sessions' webhook signing secrets;
    without one, no session can be created. `hub` wakes live feeds (by default one with
    a LISTEN connection of its own on the pool's database, stopped with the process).
    `wakeups` releases long-polled claims when a request is committed (the caller LISTENs
    and wakes it); without it they wait their time.
    """
    feed_hub = hub or FeedHub.own(str(pool.conninfo))

    def register(server: grpc.aio.Server) -> None:
        store = Store(pool, idempotency_ttl_seconds=idempotency_ttl_seconds)
        inbox = Inbox(pool, store, idempotency_ttl_seconds=idempotency_ttl_seconds, wakeups=wakeups)
        transfers = Transfers(pool, idempotency_ttl_seconds=idempotency_ttl_seconds)
        store_pb2_grpc.add_StoreServiceServicer_to_server(
            PushStoreServicer(store, inbox, External(pool, inbox), transfers), server
        )
        push_pb2_grpc.add_PushAdminServiceServicer_to_server(
            PushAdminServicer(PushAdmin(pool, signer), Authenticator(pool, bootstrap_token)),
            server,
        )
        streams_pb2_grpc.add_StreamAdminServiceServicer_to_server(
            StreamAdminServicer(StreamAdmin(pool), Authenticator(pool, bootstrap_token)), server
        )
        integrations_pb2_grpc.add_IntegrationAdminServiceServicer_to_server(
            IntegrationAdminServicer(IntegrationAdmin(pool), Authenticator(pool, bootstrap_token)),
            server,
        )
        admin_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(Admin(pool), Authenticator(pool, bootstrap_token)), server
        )
        feed_pb2_grpc.add_StreamFeedServiceServicer_to_server(
            StreamFeedServicer(Feed(pool), feed_hub, feed or FeedSettings()), server
        )

    return await grpcserver.start(register, SERVICE_NAMES, address)
