"""The demo's integration and push credentials kept or made again: tokens, session, API key."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import (
    integrations_pb2,
    integrations_pb2_grpc,
    push_pb2,
    push_pb2_grpc,
)
from inlet.store.v1 import store_pb2, store_pb2_grpc
from inlet_devstack.demo import REGION, Metadata, allowed_code
from inlet_devstack.saved import Secret

_PROBE_TRANSFER = "0" * 24
# The form's page origin.
FORM_ORIGIN = "http://localhost:3000"
PUSH_TYPES = ("crm-contact", "crm-company")


async def integration(
    integrations: integrations_pb2_grpc.IntegrationAdminServiceAsyncStub,
    auth: Metadata,
    workspace: str,
    integration_id: str,
    note: Callable[[str], None],
) -> None:
    """The demo integration (GENERIC into contact), made when missing, enabled if it was
    disabled."""
    name = f"{workspace}/integrations/{integration_id}"
    try:
        got = await integrations.GetIntegration(
            integrations_pb2.GetIntegrationRequest(name=name), metadata=auth
        )
    except grpc.aio.AioRpcError as error:
        allowed_code(error, grpc.StatusCode.NOT_FOUND)
        await integrations.CreateIntegration(
            integrations_pb2.CreateIntegrationRequest(
                parent=workspace,
                integration_id=integration_id,
                integration=integrations_pb2.Integration(
                    display_name="Demo contacts",
                    type="GENERIC",
                    entity_type="contact",
                    default_region=REGION,
                ),
            ),
            metadata=auth,
        )
        note(f"integration {integration_id} created")
        return
    if not got.integration.enabled:
        await integrations.UpdateIntegration(
            integrations_pb2.UpdateIntegrationRequest(
                integration=integrations_pb2.Integration(name=name, enabled=True),
                update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
            ),
            metadata=auth,
        )
        note(f"integration {integration_id} enabled again")


async def project_token(
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
            allowed_code(error, grpc.StatusCode.UNAUTHENTICATED)
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


async def client_token(
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


async def push_session(
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
            allowed_code(error, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
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


async def api_key(
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
            refused = allowed_code(
                error, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED
            )
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
