"""`make run`'s demo on every start: the saved credentials that still work are kept, and
only what is missing or no longer works is made again (one workspace, one admin token,
one endpoint per type, one stream key, one integration with a project token and a client
token, one push session and API key — however often the stack restarts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from google.protobuf import field_mask_pb2

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
from inlet.store.v1 import store_pb2, store_pb2_grpc
from inlet_common.credentials import token_hash
from inlet_devstack.demo import DEMO_TYPES, SALES, bearer, ensure_types
from inlet_devstack.saved import DemoCredentials, Secret

WORKSPACE = "demo"
STREAM = "sales"
ENDPOINT_TYPES = ("contact", "deal")
REGION = "NO"
# Integration ingest: a GENERIC integration into contacts, and the form's page origin.
INTEGRATION = "contacts"
FORM_ORIGIN = "http://localhost:3000"
# A request id no request has: looking it up tells a working ingest key (404) from a
# dead one (401) without writing anything.
_PROBE_REQUEST = "req_devstackprobe"
_PROBE_TRANSFER = "0" * 24
PUSH_TYPES = ("crm-contact", "crm-company")

Metadata = tuple[tuple[str, str]]


@dataclass
class Ready:
    """The demo's working credentials, and what had to be made or repaired for them."""

    credentials: DemoCredentials
    changes: list[str] = field(default_factory=list)


def _code(error: grpc.aio.AioRpcError, *allowed: grpc.StatusCode) -> grpc.StatusCode:
    """The error's code if it is one of `allowed`; otherwise the error goes on."""
    if error.code() not in allowed:
        raise error
    return error.code()


async def ensure(
    channel: grpc.aio.Channel, *, bootstrap_token: str, saved: DemoCredentials
) -> Ready:
    """Check `saved` against the running store and complete it; see the module doc."""
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
        slug: await _endpoint(admin, store, auth, workspace, slug, saved.endpoints.get(slug), note)
        for slug in ENDPOINT_TYPES
    }
    stream = await _stream(streams, auth, workspace, note)
    key = await _ingest_key(streams, store, auth, stream, saved.ingest_key, note)
    integrations = integrations_pb2_grpc.IntegrationAdminServiceStub(channel)
    await _integration(integrations, auth, workspace, note)
    project = await _project_token(integrations, store, auth, workspace, saved.project_token, note)
    form = await _client_token(integrations, auth, workspace, saved.client_token, note)
    push = push_pb2_grpc.PushAdminServiceStub(channel)
    session = await _push_session(push, auth, workspace, saved.push_session, note)
    api_key = await _api_key(push, store, auth, workspace, saved.api_key, note)
    ready.credentials = DemoCredentials(
        workspace,
        token,
        endpoints,
        key,
        api_key=api_key,
        push_session=session,
        project_token=project,
        client_token=form,
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
            _code(error, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
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
        _code(error, grpc.StatusCode.ALREADY_EXISTS)
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


async def _endpoint(
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
        _code(error, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
        return None
    return got.ingest_endpoint if got.ingest_endpoint.entity_type == slug else None


async def _token_works(store: store_pb2_grpc.StoreServiceAsyncStub, token: str) -> bool:
    """Whether an (enabled) endpoint answers to `token`, as a push would resolve it (a push
    planned against no schema is answered with the schema alone: nothing is counted)."""
    try:
        await store.CommitPush(store_pb2.CommitPushRequest(token_hash=token_hash(token)))
    except grpc.aio.AioRpcError as error:
        _code(error, grpc.StatusCode.NOT_FOUND)
        return False
    return True


async def _stream(
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
        _code(error, grpc.StatusCode.NOT_FOUND)
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


async def _ingest_key(
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
            refused = _code(error, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED)
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


async def _integration(
    integrations: integrations_pb2_grpc.IntegrationAdminServiceAsyncStub,
    auth: Metadata,
    workspace: str,
    note: Callable[[str], None],
) -> None:
    """The demo integration (GENERIC into contact), made when missing, enabled if it was
    disabled."""
    name = f"{workspace}/integrations/{INTEGRATION}"
    try:
        got = await integrations.GetIntegration(
            integrations_pb2.GetIntegrationRequest(name=name), metadata=auth
        )
    except grpc.aio.AioRpcError as error:
        _code(error, grpc.StatusCode.NOT_FOUND)
        await integrations.CreateIntegration(
            integrations_pb2.CreateIntegrationRequest(
                parent=workspace,
                integration_id=INTEGRATION,
                integration=integrations_pb2.Integration(
                    display_name="Demo contacts",
                    type="GENERIC",
                    entity_type="contact",
                    default_region=REGION,
                ),
            ),
            metadata=auth,
        )
        note(f"integration {INTEGRATION} created")
        return
    if not got.integration.enabled:
        await integrations.UpdateIntegration(
            integrations_pb2.UpdateIntegrationRequest(
                integration=integrations_pb2.Integration(name=name, enabled=True),
                update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
            ),
            metadata=auth,
        )
        note(f"integration {INTEGRATION} enabled again")


async def _project_token(
    integrations: integrations_pb2_grpc.IntegrationAdminServiceAsyncStub,
    store: store_pb2_grpc.StoreServiceAsyncStub,
    auth: Metadata,
    workspace: str,
    saved: Secret | None,
    note: Callable[[str], None],
) -> Secret:
    """The saved project token if it still authenticates (checked as a ping would be, and
    logged as one), else a new one."""
    if saved is not None and saved.name.startswith(f"{workspace}/projectTokens/"):
        try:
            await store.PingProjectToken(
                store_pb2.PingProjectTokenRequest(project_token=saved.secret)
            )
            return saved
        except grpc.aio.AioRpcError as error:
            _code(error, grpc.StatusCode.UNAUTHENTICATED)
    made = await integrations.CreateProjectToken(
        integrations_pb2.CreateProjectTokenRequest(
            parent=workspace,
            project_token=integrations_pb2.ProjectToken(display_name="Demo server token"),
        ),
        metadata=auth,
    )
    note(
        "new project token (the saved one no longer works)"
        if saved is not None
        else "project token created"
    )
    return Secret(made.project_token.name, made.secret)


async def _client_token(
    integrations: integrations_pb2_grpc.IntegrationAdminServiceAsyncStub,
    auth: Metadata,
    workspace: str,
    saved: Secret | None,
    note: Callable[[str], None],
) -> Secret:
    """The saved client token while it is listed and not revoked, else a new one (its secret
    can only be checked by submitting a form, which would write a record)."""
    if saved is not None and saved.name.startswith(f"{workspace}/clientTokens/"):
        listed = await integrations.ListClientTokens(
            integrations_pb2.ListClientTokensRequest(parent=workspace, page_size=1000),
            metadata=auth,
        )
        if any(
            t.name.rsplit("/", 1)[-1] == saved.name.rsplit("/", 1)[-1]
            and not t.HasField("revoke_time")
            for t in listed.client_tokens
        ):
            return saved
    made = await integrations.CreateClientToken(
        integrations_pb2.CreateClientTokenRequest(
            parent=workspace,
            client_token=integrations_pb2.ClientToken(
                display_name="Demo contact form",
                entity_type="contact",
                default_region=REGION,
                allowed_origins=[FORM_ORIGIN],
            ),
        ),
        metadata=auth,
    )
    note(
        "new client token (the saved one was revoked)"
        if saved is not None
        else "client token created"
    )
    return Secret(made.client_token.name, made.secret)


async def _push_session(
    push: push_pb2_grpc.PushAdminServiceAsyncStub,
    auth: Metadata,
    workspace: str,
    saved: Secret | None,
    note: Callable[[str], None],
) -> Secret:
    """The saved push session (crm-contact and crm-company) if it still exists, else a new
    one; its webhook signing secret is the one shown when it was made."""
    if saved is not None and saved.name.startswith(f"{workspace}/sessions/"):
        try:
            await push.GetSession(push_pb2.GetSessionRequest(name=saved.name), metadata=auth)
            return saved
        except grpc.aio.AioRpcError as error:
            _code(error, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
    made = await push.CreateSession(
        push_pb2.CreateSessionRequest(
            parent=workspace,
            session=push_pb2.Session(
                display_name="Demo CRM sync",
                default_region=REGION,
                types=[push_pb2.SessionType(endgrate_type=t) for t in PUSH_TYPES],
            ),
        ),
        metadata=auth,
    )
    note("push session created")
    return Secret(made.session.name, made.webhook_secret)


async def _api_key(
    push: push_pb2_grpc.PushAdminServiceAsyncStub,
    store: store_pb2_grpc.StoreServiceAsyncStub,
    auth: Metadata,
    workspace: str,
    saved: Secret | None,
    note: Callable[[str], None],
) -> Secret:
    """The saved API key if it still authenticates, else a new one."""
    if saved is not None and saved.name.startswith(f"{workspace}/apiKeys/"):
        try:
            await store.GetPushTransfer(
                store_pb2.GetPushTransferRequest(
                    api_key=saved.secret, transfer_id=_PROBE_TRANSFER, summary_only=True
                )
            )
            works = True
        except grpc.aio.AioRpcError as error:
            refused = _code(error, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED)
            works = refused == grpc.StatusCode.NOT_FOUND
        if works:
            return saved
    made = await push.CreateApiKey(
        push_pb2.CreateApiKeyRequest(
            parent=workspace, api_key=push_pb2.ApiKey(display_name="Demo API key")
        ),
        metadata=auth,
    )
    note("new API key (the saved one no longer works)" if saved is not None else "API key created")
    return Secret(made.api_key.name, made.secret)
