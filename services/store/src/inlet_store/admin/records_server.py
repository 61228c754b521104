"""AdminService's record RPCs: get, list, look up, and the requests that wrote a record."""

from __future__ import annotations

from typing import Any

from inlet.admin.v1 import admin_pb2
from inlet_common import exactjson
from inlet_common.admin import names
from inlet_common.admin.timestamps import timestamp
from inlet_store.admin.auth import WorkspaceScoped
from inlet_store.admin.use_cases import Admin
from inlet_store.domain import StoredRecord


def _record_pb(r: StoredRecord) -> admin_pb2.Record:
    return admin_pb2.Record(
        name=names.name(
            "workspaces", r.workspace_id, "entityTypes", r.entity_type, "records", r.id
        ),
        id=r.id,
        entity_type=r.entity_type,
        values=exactjson.to_raw(r.values),
        create_time=timestamp(r.create_time),
        update_time=timestamp(r.update_time),
    )


class RecordRpcs(WorkspaceScoped):
    """GetRecord, ListRecords, LookupRecord and ListRecordRequests, for AdminServicer."""

    store: Admin

    async def GetRecord(
        self, request: admin_pb2.GetRecordRequest, context: Any
    ) -> admin_pb2.GetRecordResponse:
        workspace, key, record_id = await self._authorised(
            context, "name", request.name, "workspaces", "entityTypes", "records"
        )
        found = await self.store.get_record_in(workspace, key, record_id)
        return admin_pb2.GetRecordResponse(record=_record_pb(found))

    async def ListRecords(
        self, request: admin_pb2.ListRecordsRequest, context: Any
    ) -> admin_pb2.ListRecordsResponse:
        workspace, key = await self._authorised(
            context, "parent", request.parent, "workspaces", "entityTypes"
        )
        page, next_token = await self.store.list_records(
            workspace, key, request.page_size, request.page_token
        )
        return admin_pb2.ListRecordsResponse(
            records=[_record_pb(r) for r in page], next_page_token=next_token
        )

    async def LookupRecord(
        self, request: admin_pb2.LookupRecordRequest, context: Any
    ) -> admin_pb2.LookupRecordResponse:
        workspace, key = await self._authorised(
            context, "parent", request.parent, "workspaces", "entityTypes"
        )
        found = await self.store.lookup_record(
            workspace, key, request.field, request.value, request.default_region
        )
        return admin_pb2.LookupRecordResponse(record=_record_pb(found))

    async def ListRecordRequests(
        self, request: admin_pb2.ListRecordRequestsRequest, context: Any
    ) -> admin_pb2.ListRecordRequestsResponse:
        workspace, key, record_id = await self._authorised(
            context, "parent", request.parent, "workspaces", "entityTypes", "records"
        )
        page, next_token = await self.store.list_record_requests(
            workspace, key, record_id, request.page_size, request.page_token
        )
        return admin_pb2.ListRecordRequestsResponse(
            record_requests=[
                admin_pb2.RecordRequest(
                    request_id=r.request_id,
                    dialect=r.dialect,
                    source=r.source,
                    action=r.action,
                    entity=r.entity,
                    create_time=timestamp(r.create_time),
                )
                for r in page
            ],
            next_page_token=next_token,
        )

    # -- the overview -------------------------------------------------------------------------
