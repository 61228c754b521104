"""StreamAdminService's RPCs over StreamAdmin, and its rows as protobuf messages."""

from __future__ import annotations

from typing import Any

from inlet.admin.v1 import streams_pb2, streams_pb2_grpc
from inlet_common import exactjson
from inlet_common.admin.names import name
from inlet_common.admin.timestamps import timestamp
from inlet_common.masks import update_paths
from inlet_store.admin.auth import Authenticator, WorkspaceScoped
from inlet_store.admin.streams import StreamAdmin
from inlet_store.read_keys import read_key_pb
from inlet_store.streams import prefix

_MODE_ENUMS = {"live": streams_pb2.INGEST_KEY_MODE_LIVE, "test": streams_pb2.INGEST_KEY_MODE_TEST}


def stream_pb(workspace_id: str, s: dict[str, Any]) -> streams_pb2.Stream:
    return streams_pb2.Stream(
        name=name("workspaces", workspace_id, "streams", s["slug"]),
        display_name=s["display_name"],
        entity_type=s["entity_type"],
        default_region=s["default_region"],
        create_time=timestamp(s["create_time"]),
    )


def key_pb(workspace_id: str, stream: str, k: dict[str, Any]) -> streams_pb2.IngestKey:
    return streams_pb2.IngestKey(
        name=name("workspaces", workspace_id, "streams", stream, "ingestKeys", k["id"]),
        mode=_MODE_ENUMS[k["mode"]],
        display_name=k["display_name"],
        rate_limit=k["rate_limit"],
        rate_window_seconds=k["rate_window_seconds"],
        create_time=timestamp(k["create_time"]),
        expire_time=timestamp(k["expire_time"]),
        revoke_time=timestamp(k["revoke_time"]),
        prefix=prefix(k["mode"], k["id"]),
    )


def log_pb(e: dict[str, Any]) -> streams_pb2.ConnectorLogEntry:
    errors = [e["error"]] if e["error"] else list(e["item_errors"] or [])
    return streams_pb2.ConnectorLogEntry(
        create_time=timestamp(e["create_time"]),
        request_id=e["request_id"],
        items_received=e["items_received"],
        status=e["status"],
        status_code=e["status_code"],
        items_failed=e["items_failed"],
        errors=[exactjson.to_raw(err) for err in errors],
        ingest_key=e["key_id"],
        client_request_id=e["client_request_id"],
        replay_of=e["replay_of"] or "",
        body_differed=e["body_differed"],
    )


class StreamAdminServicer(WorkspaceScoped, streams_pb2_grpc.StreamAdminServiceServicer):
    def __init__(self, admin: StreamAdmin, auth: Authenticator) -> None:
        self.admin = admin
        self.auth = auth

    async def CreateStream(
        self, request: streams_pb2.CreateStreamRequest, context: Any
    ) -> streams_pb2.CreateStreamResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        created = await self.admin.create_stream(workspace, request.stream_id, request.stream)
        return streams_pb2.CreateStreamResponse(stream=stream_pb(created["workspace_id"], created))

    async def GetStream(
        self, request: streams_pb2.GetStreamRequest, context: Any
    ) -> streams_pb2.GetStreamResponse:
        workspace, slug = await self._authorised(
            context, "name", request.name, "workspaces", "streams"
        )
        found = await self.admin.get_stream(workspace, slug)
        return streams_pb2.GetStreamResponse(stream=stream_pb(str(found["workspace_id"]), found))

    async def ListStreams(
        self, request: streams_pb2.ListStreamsRequest, context: Any
    ) -> streams_pb2.ListStreamsResponse:
        (workspace,) = await self._authorised(context, "parent", request.parent, "workspaces")
        page, token = await self.admin.list_streams(
            workspace, request.page_size, request.page_token
        )
        return streams_pb2.ListStreamsResponse(
            streams=[stream_pb(str(s["workspace_id"]), s) for s in page], next_page_token=token
        )

    async def CreateIngestKey(
        self, request: streams_pb2.CreateIngestKeyRequest, context: Any
    ) -> streams_pb2.CreateIngestKeyResponse:
        workspace, stream = await self._authorised(
            context, "parent", request.parent, "workspaces", "streams"
        )
        created, secret = await self.admin.create_key(workspace, stream, request.ingest_key)
        return streams_pb2.CreateIngestKeyResponse(
            ingest_key=key_pb(workspace, stream, created), secret=secret
        )

    async def ListIngestKeys(
        self, request: streams_pb2.ListIngestKeysRequest, context: Any
    ) -> streams_pb2.ListIngestKeysResponse:
        workspace, stream = await self._authorised(
            context, "parent", request.parent, "workspaces", "streams"
        )
        page, token = await self.admin.list_keys(
            workspace, stream, request.page_size, request.page_token
        )
        return streams_pb2.ListIngestKeysResponse(
            ingest_keys=[key_pb(workspace, stream, k) for k in page], next_page_token=token
        )

    async def UpdateIngestKey(
        self, request: streams_pb2.UpdateIngestKeyRequest, context: Any
    ) -> streams_pb2.UpdateIngestKeyResponse:
        workspace, stream, key_id = await self._authorised(
            context,
            "ingest_key.name",
            request.ingest_key.name,
            "workspaces",
            "streams",
            "ingestKeys",
        )
        mask = update_paths(
            request.update_mask,
            request.ingest_key,
            updatable=("display_name", "rate_limit", "rate_window_seconds"),
            ignored=("name", "prefix", "create_time", "expire_time", "revoke_time"),
        )
        changed = await self.admin.update_key(workspace, stream, key_id, request.ingest_key, mask)
        return streams_pb2.UpdateIngestKeyResponse(ingest_key=key_pb(workspace, stream, changed))

    async def RevokeIngestKey(
        self, request: streams_pb2.RevokeIngestKeyRequest, context: Any
    ) -> streams_pb2.RevokeIngestKeyResponse:
        workspace, stream, key_id = await self._authorised(
            context, "name", request.name, "workspaces", "streams", "ingestKeys"
        )
        revoked = await self.admin.revoke_key(workspace, stream, key_id)
        return streams_pb2.RevokeIngestKeyResponse(ingest_key=key_pb(workspace, stream, revoked))

    async def RotateIngestKey(
        self, request: streams_pb2.RotateIngestKeyRequest, context: Any
    ) -> streams_pb2.RotateIngestKeyResponse:
        workspace, stream, key_id = await self._authorised(
            context, "name", request.name, "workspaces", "streams", "ingestKeys"
        )
        created, secret, previous = await self.admin.rotate_key(
            workspace, stream, key_id, request.grace_seconds
        )
        return streams_pb2.RotateIngestKeyResponse(
            ingest_key=key_pb(workspace, stream, created),
            secret=secret,
            previous=key_pb(workspace, stream, previous),
        )

    async def CreateReadKey(
        self, request: streams_pb2.CreateReadKeyRequest, context: Any
    ) -> streams_pb2.CreateReadKeyResponse:
        workspace, stream = await self._authorised(
            context, "parent", request.parent, "workspaces", "streams"
        )
        created, secret = await self.admin.read_keys.create(
            workspace, stream, request.read_key.display_name
        )
        return streams_pb2.CreateReadKeyResponse(
            read_key=read_key_pb(workspace, stream, created), secret=secret
        )

    async def ListReadKeys(
        self, request: streams_pb2.ListReadKeysRequest, context: Any
    ) -> streams_pb2.ListReadKeysResponse:
        workspace, stream = await self._authorised(
            context, "parent", request.parent, "workspaces", "streams"
        )
        page, token = await self.admin.read_keys.list(
            workspace, stream, request.page_size, request.page_token
        )
        return streams_pb2.ListReadKeysResponse(
            read_keys=[read_key_pb(workspace, stream, k) for k in page], next_page_token=token
        )

    async def RevokeReadKey(
        self, request: streams_pb2.RevokeReadKeyRequest, context: Any
    ) -> streams_pb2.RevokeReadKeyResponse:
        workspace, stream, key_id = await self._authorised(
            context, "name", request.name, "workspaces", "streams", "readKeys"
        )
        revoked = await self.admin.read_keys.revoke(workspace, stream, key_id)
        return streams_pb2.RevokeReadKeyResponse(read_key=read_key_pb(workspace, stream, revoked))

    async def ListConnectorLogEntries(
        self, request: streams_pb2.ListConnectorLogEntriesRequest, context: Any
    ) -> streams_pb2.ListConnectorLogEntriesResponse:
        workspace, stream = await self._authorised(
            context, "parent", request.parent, "workspaces", "streams"
        )
        page, token = await self.admin.connector_log(
            workspace, stream, request.page_size, request.page_token
        )
        return streams_pb2.ListConnectorLogEntriesResponse(
            connector_log_entries=[log_pb(e) for e in page], next_page_token=token
        )
