"""gRPC servicer of PushAdminService: protobuf ↔ domain only; the work is in PushAdmin."""

from __future__ import annotations

from typing import Any, cast

from inlet.admin.v1 import admin_pb2, push_pb2, push_pb2_grpc
from inlet_common import exactjson
from inlet_common.admin.timestamps import timestamp
from inlet_common.masks import update_paths
from inlet_store import apikeys
from inlet_store.admin.auth import Authenticator, WorkspaceScoped
from inlet_store.admin.push import PushAdmin
from inlet_store.admin.push_specs import UPDATABLE, Session, SessionSpec, TypeSpec
from inlet_store.server import TYPE_NAMES

_TYPE_ENUMS = {name: value for value, name in TYPE_NAMES.items()}
_OPTIONS = (
    ("data_webhook", "data"),
    ("completed_webhook", "completed"),
    ("error_webhook", "error"),
)


def key_pb(workspace_id: str, k: dict[str, Any]) -> push_pb2.ApiKey:
    return push_pb2.ApiKey(
        name=f"workspaces/{workspace_id}/apiKeys/{k['id']}",
        display_name=k["display_name"],
        rate_limit=k["rate_limit"],
        rate_window_seconds=k["rate_window_seconds"],
        create_time=timestamp(k["create_time"]),
        expire_time=timestamp(k["expire_time"]),
        revoke_time=timestamp(k["revoke_time"]),
        prefix=apikeys.prefix(k["id"]),
    )


def _webhook_pb(option: dict[str, Any] | None) -> push_pb2.PushWebhook | None:
    if not option:
        return None
    return push_pb2.PushWebhook(
        endpoint=option["endpoint"],
        metadata=exactjson.to_raw(option["metadata"]) if "metadata" in option else None,
    )


def session_pb(s: Session) -> push_pb2.Session:
    found = push_pb2.Session(
        name=f"workspaces/{s.workspace_id}/sessions/{s.id}",
        session_id=s.id,
        display_name=s.display_name,
        default_region=s.default_region,
        types=[
            push_pb2.SessionType(
                endgrate_type=t.endgrate_type,
                entity_type=t.entity_type,
                field_map=t.field_map,
                upsert_keys=list(t.upsert_keys),
            )
            for t in s.types
        ],
        webhook_endpoint=(
            f"workspaces/{s.workspace_id}/webhookEndpoints/{s.webhook_endpoint_id}"
            if s.webhook_endpoint_id
            else ""
        ),
        create_time=timestamp(s.create_time),
    )
    for name, short in _OPTIONS:
        option = _webhook_pb(s.webhooks.get(short))
        if option is not None:
            getattr(found, name).CopyFrom(option)
    return found


def _webhook_option(w: push_pb2.PushWebhook) -> dict[str, Any] | None:
    if not w.endpoint and not w.HasField("metadata"):
        return None
    option: dict[str, Any] = {"endpoint": w.endpoint}
    metadata = exactjson.from_raw(w.metadata)
    if metadata is not None:
        option["metadata"] = metadata
    return option


def session_spec(s: push_pb2.Session, *, only_set: bool) -> SessionSpec:
    """The domain form of a session message; `only_set`: options absent stay absent."""
    webhooks: dict[str, dict[str, Any] | None] = {}
    for name, short in _OPTIONS:
        if cast(Any, s).HasField(name) or not only_set:
            webhooks[short] = _webhook_option(getattr(s, name))
    return SessionSpec(
        display_name=s.display_name,
        default_region=s.default_region,
        types=tuple(TypeSpec(t.endgrate_type, t.entity_type, dict(t.field_map)) for t in s.types),
        webhooks=webhooks,
    )


class PushAdminServicer(WorkspaceScoped, push_pb2_grpc.PushAdminServiceServicer):
    def __init__(self, admin: PushAdmin, auth: Authenticator) -> None:
        self.admin = admin
        self.auth = auth

    async def CreateApiKey(
        self, request: push_pb2.CreateApiKeyRequest, context: Any
    ) -> push_pb2.CreateApiKeyResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        key = request.api_key
        workspace_id, created, secret = await self.admin.create_key(
            workspace, key.display_name, key.rate_limit, key.rate_window_seconds
        )
        return push_pb2.CreateApiKeyResponse(api_key=key_pb(workspace_id, created), secret=secret)

    async def ListApiKeys(
        self, request: push_pb2.ListApiKeysRequest, context: Any
    ) -> push_pb2.ListApiKeysResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        workspace_id, page, token = await self.admin.list_keys(
            workspace, request.page_size, request.page_token
        )
        return push_pb2.ListApiKeysResponse(
            api_keys=[key_pb(workspace_id, k) for k in page], next_page_token=token
        )

    async def RevokeApiKey(
        self, request: push_pb2.RevokeApiKeyRequest, context: Any
    ) -> push_pb2.RevokeApiKeyResponse:
        workspace, key_id = await self._authorised(
            context, "name", request.name, "workspaces", "apiKeys"
        )
        workspace_id, revoked = await self.admin.revoke_key(workspace, key_id)
        return push_pb2.RevokeApiKeyResponse(api_key=key_pb(workspace_id, revoked))

    async def RotateApiKey(
        self, request: push_pb2.RotateApiKeyRequest, context: Any
    ) -> push_pb2.RotateApiKeyResponse:
        workspace, key_id = await self._authorised(
            context, "name", request.name, "workspaces", "apiKeys"
        )
        workspace_id, created, secret, previous = await self.admin.rotate_key(
            workspace, key_id, request.grace_seconds
        )
        return push_pb2.RotateApiKeyResponse(
            api_key=key_pb(workspace_id, created),
            secret=secret,
            previous=key_pb(workspace_id, previous),
        )

    async def CreateSession(
        self, request: push_pb2.CreateSessionRequest, context: Any
    ) -> push_pb2.CreateSessionResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        session, secret = await self.admin.create_session(
            workspace, session_spec(request.session, only_set=True)
        )
        return push_pb2.CreateSessionResponse(session=session_pb(session), webhook_secret=secret)

    async def GetSession(
        self, request: push_pb2.GetSessionRequest, context: Any
    ) -> push_pb2.GetSessionResponse:
        workspace, session_id = await self._authorised(
            context, "name", request.name, "workspaces", "sessions"
        )
        found = await self.admin.get_session(workspace, session_id)
        return push_pb2.GetSessionResponse(session=session_pb(found))

    async def ListSessions(
        self, request: push_pb2.ListSessionsRequest, context: Any
    ) -> push_pb2.ListSessionsResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        page, token = await self.admin.list_sessions(
            workspace, request.page_size, request.page_token
        )
        return push_pb2.ListSessionsResponse(
            sessions=[session_pb(s) for s in page], next_page_token=token
        )

    async def UpdateSession(
        self, request: push_pb2.UpdateSessionRequest, context: Any
    ) -> push_pb2.UpdateSessionResponse:
        workspace, session_id = await self._authorised(
            context, "session.name", request.session.name, "workspaces", "sessions"
        )
        paths = update_paths(
            request.update_mask,
            request.session,
            updatable=UPDATABLE,
            ignored=("name", "session_id", "webhook_endpoint", "create_time"),
        )
        changed = await self.admin.update_session(
            workspace, session_id, session_spec(request.session, only_set=False), paths
        )
        return push_pb2.UpdateSessionResponse(session=session_pb(changed))

    async def DeleteSession(
        self, request: push_pb2.DeleteSessionRequest, context: Any
    ) -> push_pb2.DeleteSessionResponse:
        workspace, session_id = await self._authorised(
            context, "name", request.name, "workspaces", "sessions"
        )
        await self.admin.delete_session(workspace, session_id)
        return push_pb2.DeleteSessionResponse()

    async def GetSessionExample(
        self, request: push_pb2.GetSessionExampleRequest, context: Any
    ) -> push_pb2.GetSessionExampleResponse:
        workspace, session_id = await self._authorised(
            context, "name", request.name, "workspaces", "sessions"
        )
        _, payload, fields, from_sample = await self.admin.session_example(
            workspace, session_id, request.endgrate_type
        )
        return push_pb2.GetSessionExampleResponse(
            payload=exactjson.to_raw(payload),
            fields=[
                admin_pb2.ExampleField(
                    path=path, type=_TYPE_ENUMS[kind], unique=unique, required=required
                )
                for path, kind, unique, required, _ in fields
            ],
            values=[exactjson.to_raw(value) for *_, value in fields],
            from_sample_data=from_sample,
        )

    async def ListPushLogEntries(
        self, request: push_pb2.ListPushLogEntriesRequest, context: Any
    ) -> push_pb2.ListPushLogEntriesResponse:
        workspace, session_id = await self._authorised(
            context, "parent", request.parent, "workspaces", "sessions"
        )
        page, token = await self.admin.push_log(
            workspace, session_id, request.page_size, request.page_token
        )
        return push_pb2.ListPushLogEntriesResponse(
            log_entries=[log_pb(e) for e in page], next_page_token=token
        )


def log_pb(e: dict[str, Any]) -> push_pb2.PushLogEntry:
    errors = [e["error"]] if e["error"] else list(e["item_errors"] or [])
    return push_pb2.PushLogEntry(
        create_time=timestamp(e["create_time"]),
        request_id=e["request_id"],
        transfer_id=e["transfer_id"] or "",
        items_received=e["items_received"],
        status=e["status"],
        status_code=e["status_code"],
        items_failed=e["items_failed"],
        errors=[exactjson.to_raw(err) for err in errors],
        api_key=e["api_key_id"],
        client_request_id=e["client_request_id"],
        replay_of=e["replay_of"] or "",
    )
