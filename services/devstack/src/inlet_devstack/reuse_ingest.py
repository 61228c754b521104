"""The demo's ingest credentials kept or made again: endpoints, the stream and its keys."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    streams_pb2,
    streams_pb2_grpc,
)
from inlet.ingest.v1 import feed_pb2, feed_pb2_grpc
from inlet.store.v1 import store_pb2, store_pb2_grpc
from inlet_common.credentials import token_hash
from inlet_devstack.demo import REGION, SALES, Metadata, allowed_code, bearer
from inlet_devstack.saved import Secret

# A request id no request has: looking it up tells a working ingest key (404) from a
# dead one (401) without writing anything.
_PROBE_REQUEST = "req_devstackprobe"
STREAM = "sales"


async def endpoint(
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    store: store_pb2_grpc.StoreServiceAsyncStub,
    auth: Metadata,
    workspace: str,
    slug: str,
    saved: Secret | None,
    note: Callable[[str], None],
) -> Secret:
    """The saved endpoint of type `slug` with a working token, or a new endpoint."""
    found = await _saved_endpoint(admin, auth, workspace, slug, saved)
    if saved is not None and found is not None:
        if not found.enabled:
            await admin.UpdateIngestEndpoint(
                admin_pb2.UpdateIngestEndpointRequest(
                    ingest_endpoint=admin_pb2.IngestEndpoint(name=found.name, enabled=True),
                    update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
                ),
                metadata=auth,
            )
            note(f"{slug} endpoint enabled again")
        if await _token_works(store, saved.secret):
            return saved
        rotated = await admin.RotateIngestEndpointToken(
            admin_pb2.RotateIngestEndpointTokenRequest(name=found.name), metadata=auth
        )
        note(f"{slug} endpoint has a new URL (the saved one no longer works)")
        return Secret(found.name, rotated.token)
    made = await admin.CreateIngestEndpoint(
        admin_pb2.CreateIngestEndpointRequest(
            parent=workspace,
            ingest_endpoint=admin_pb2.IngestEndpoint(
                display_name=f"Demo {slug} endpoint", entity_type=slug, default_region=REGION
            ),
        ),
        metadata=auth,
    )
    note(f"{slug} endpoint created")
    return Secret(made.ingest_endpoint.name, made.token)


async def _saved_endpoint(
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    auth: Metadata,
    workspace: str,
    slug: str,
    saved: Secret | None,
) -> admin_pb2.IngestEndpoint | None:
    """The saved endpoint if it still exists in this workspace for type `slug`."""
    if saved is None or not saved.name.startswith(f"{workspace}/ingestEndpoints/"):
        return None
    try:
        got = await admin.GetIngestEndpoint(
            admin_pb2.GetIngestEndpointRequest(name=saved.name), metadata=auth
        )
    except grpc.aio.AioRpcError as error:
        allowed_code(error, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
        return None
    return got.ingest_endpoint if got.ingest_endpoint.entity_type == slug else None


async def _token_works(store: store_pb2_grpc.StoreServiceAsyncStub, token: str) -> bool:
    """Whether an (enabled) endpoint answers to `token`, as a push would resolve it (a push
    planned against no schema is answered with the schema alone: nothing is counted)."""
    try:
        await store.CommitPush(store_pb2.CommitPushRequest(token_hash=token_hash(token)))
    except grpc.aio.AioRpcError as error:
        allowed_code(error, grpc.StatusCode.NOT_FOUND)
        return False
    return True


async def stream(
    streams: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    auth: Metadata,
    workspace: str,
    note: Callable[[str], None],
) -> str:
    """The demo stream's resource name, created (bound to sales) when missing."""
    try:
        got = await streams.GetStream(
            streams_pb2.GetStreamRequest(name=f"{workspace}/streams/{STREAM}"), metadata=auth
        )
        return got.stream.name
    except grpc.aio.AioRpcError as error:
        allowed_code(error, grpc.StatusCode.NOT_FOUND)
    made = await streams.CreateStream(
        streams_pb2.CreateStreamRequest(
            parent=workspace,
            stream_id=STREAM,
            stream=streams_pb2.Stream(
                display_name="Sales", entity_type=SALES.slug, default_region=REGION
            ),
        ),
        metadata=auth,
    )
    note(f"stream {STREAM} created")
    return made.stream.name


async def ingest_key(
    streams: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    store: store_pb2_grpc.StoreServiceAsyncStub,
    auth: Metadata,
    stream: str,
    saved: Secret | None,
    note: Callable[[str], None],
) -> Secret:
    """The saved ingest key of the stream if it still authenticates, else a new one."""
    if saved is not None and saved.name.startswith(f"{stream}/ingestKeys/"):
        try:
            await store.GetStreamRequestStatus(
                store_pb2.GetStreamRequestStatusRequest(
                    ingest_key=saved.secret, request_id=_PROBE_REQUEST
                )
            )
            works = True  # any answer but 401 means the key authenticated
        except grpc.aio.AioRpcError as error:
            refused = allowed_code(
                error, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED
            )
            works = refused == grpc.StatusCode.NOT_FOUND
        if works:
            return saved
    made = await streams.CreateIngestKey(
        streams_pb2.CreateIngestKeyRequest(
            parent=stream,
            ingest_key=streams_pb2.IngestKey(
                display_name="Demo key", mode=streams_pb2.INGEST_KEY_MODE_LIVE
            ),
        ),
        metadata=auth,
    )
    note(
        "new ingest key (the saved one no longer works)"
        if saved is not None
        else "ingest key created"
    )
    return Secret(made.ingest_key.name, made.secret)


async def read_key(
    streams: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    feed: feed_pb2_grpc.StreamFeedServiceAsyncStub,
    auth: Metadata,
    stream: str,
    saved: Secret | None,
    note: Callable[[str], None],
) -> Secret:
    """The saved read key of the stream if it still reads it, else a new one."""
    if saved is not None and saved.name.startswith(f"{stream}/readKeys/"):
        try:
            await feed.ListStreamItems(
                feed_pb2.ListStreamItemsRequest(stream=STREAM, page_size=1),
                metadata=bearer(saved.secret),
            )
            return saved
        except grpc.aio.AioRpcError as error:
            allowed_code(error, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
    made = await streams.CreateReadKey(
        streams_pb2.CreateReadKeyRequest(
            parent=stream, read_key=streams_pb2.ReadKey(display_name="Demo renderer")
        ),
        metadata=auth,
    )
    note(
        "new read key (the saved one no longer works)" if saved is not None else "read key created"
    )
    return Secret(made.read_key.name, made.secret)
