"""`make run`'s demo on every start: saved credentials that work are kept, the rest made again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from inlet.admin.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    integrations_pb2_grpc,
    push_pb2_grpc,
    streams_pb2_grpc,
)
from inlet.ingest.v1 import feed_pb2_grpc
from inlet.store.v1 import store_pb2_grpc
from inlet_devstack import reuse_external, reuse_ingest
from inlet_devstack.demo import DEMO_TYPES, SALES, allowed_code, bearer, ensure_types
from inlet_devstack.saved import DemoCredentials

WORKSPACE = "demo"
ENDPOINT_TYPES = ("contact", "deal")
# Integration ingest: a GENERIC integration into contacts.
INTEGRATION = "contacts"


@dataclass
class Ready:
    """The demo's working credentials, and what had to be made or repaired for them."""

    credentials: DemoCredentials
    changes: list[str] = field(default_factory=list)


async def ensure(
    channel: grpc.aio.Channel, *, bootstrap_token: str, saved: DemoCredentials
) -> Ready:
    """Check `saved` against the running store and complete it: one workspace, one admin
    token, one endpoint per type, one stream key and read key, one integration with a
    project token and a client token, one push session and API key — however often the
    stack restarts; only what is missing or no longer works is made again."""
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    streams = streams_pb2_grpc.StreamAdminServiceStub(channel)
    store = store_pb2_grpc.StoreServiceStub(channel)
    ready = Ready(DemoCredentials())
    workspace, token, created = await _workspace(
        admin, bootstrap_token, saved, ready.changes.append
    )

    def note(change: str) -> None:
        # In a new workspace everything is new: only repairs of an old one are listed.
        if not created:
            ready.changes.append(change)

    auth = bearer(token)
    for slug in await ensure_types(admin, auth, workspace, [*DEMO_TYPES, SALES]):
        note(f"entity type {slug} created")
    endpoints = {
        slug: await reuse_ingest.endpoint(
            admin, store, auth, workspace, slug, saved.endpoints.get(slug), note
        )
        for slug in ENDPOINT_TYPES
    }
    stream = await reuse_ingest.stream(streams, auth, workspace, note)
    key = await reuse_ingest.ingest_key(streams, store, auth, stream, saved.ingest_key, note)
    feed = feed_pb2_grpc.StreamFeedServiceStub(channel)
    read_key = await reuse_ingest.read_key(streams, feed, auth, stream, saved.read_key, note)
    integrations = integrations_pb2_grpc.IntegrationAdminServiceStub(channel)
    await reuse_external.integration(integrations, auth, workspace, INTEGRATION, note)
    project = await reuse_external.project_token(
        integrations, store, auth, workspace, saved.project_token, note
    )
    form = await reuse_external.client_token(
        integrations, auth, workspace, saved.client_token, note
    )
    push = push_pb2_grpc.PushAdminServiceStub(channel)
    session = await reuse_external.push_session(push, auth, workspace, saved.push_session, note)
    api_key = await reuse_external.api_key(push, store, auth, workspace, saved.api_key, note)
    ready.credentials = DemoCredentials(
        workspace,
        token,
        endpoints,
        key,
        api_key=api_key,
        push_session=session,
        project_token=project,
        client_token=form,
        read_key=read_key,
    )
    return ready


async def _workspace(
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    bootstrap_token: str,
    saved: DemoCredentials,
    note: Callable[[str], None],
) -> tuple[str, str, bool]:
    """The demo workspace's resource name, a working admin token, and whether the
    workspace was created now."""
    name = f"workspaces/{WORKSPACE}"
    if saved.admin_token:
        try:
            got = await admin.GetWorkspace(
                admin_pb2.GetWorkspaceRequest(name=name), metadata=bearer(saved.admin_token)
            )
            return got.workspace.name, saved.admin_token, False
        except grpc.aio.AioRpcError as error:
            allowed_code(error, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
    bootstrap = bearer(bootstrap_token)
    try:
        created = await admin.CreateWorkspace(
            admin_pb2.CreateWorkspaceRequest(
                workspace=admin_pb2.Workspace(slug=WORKSPACE, display_name="Demo")
            ),
            metadata=bootstrap,
        )
        note(f"new: workspace {WORKSPACE} created")
        return created.workspace.name, created.admin_token, True
    except grpc.aio.AioRpcError as error:
        allowed_code(error, grpc.StatusCode.ALREADY_EXISTS)
    issued = await admin.CreateAdminToken(
        admin_pb2.CreateAdminTokenRequest(parent=name), metadata=bootstrap
    )
    note(
        "new admin token (the saved one no longer works)"
        if saved.admin_token
        else "new admin token"
    )
    got = await admin.GetWorkspace(
        admin_pb2.GetWorkspaceRequest(name=name), metadata=bearer(issued.admin_token)
    )
    return got.workspace.name, issued.admin_token, False
