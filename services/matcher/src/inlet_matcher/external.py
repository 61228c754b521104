"""Integration ingest in the matcher: data ingestion and its status go to the store (which
stores the body as sent), and the external form is planned here against the client
token's schema (cached per token, versioned by the store, as stream ingest does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inlet.ingest.v1 import ingest_pb2
from inlet.store.v1 import store_pb2
from inlet_common import exactjson
from inlet_matcher.form import FormBody, plan_form, read_form
from inlet_matcher.stream import GrpcStreamStore, SchemaCache, SchemaChanging, bearer

_SCHEMA_ATTEMPTS = 3


class ExternalIngest:
    """The external API's use cases; `on_accepted` wakes a local stream worker."""

    def __init__(
        self,
        store: GrpcStreamStore,
        on_accepted: Callable[[], None] = lambda: None,
        schemas: SchemaCache | None = None,
    ) -> None:
        self.store = store
        self.on_accepted = on_accepted
        self.schemas = schemas or SchemaCache()

    async def ingest(
        self,
        metadata: dict[str, Any],
        integration_id: str,
        body: bytes,
        content_type: str,
        *,
        edge_reason: str = "",
        edge_message: str = "",
    ) -> store_pb2.AcceptIntegrationRequestResponse:
        """Store the body as sent (the store judges it); an edge rejection (too large) is
        sent to be logged against the integration after the token is checked."""
        accepted = await self.store.accept_integration(
            store_pb2.AcceptIntegrationRequestRequest(
                project_token=bearer(metadata),
                integration_id=integration_id,
                body=b"" if edge_reason else body,
                content_type=content_type,
                idempotency_key=str(metadata.get("idempotency-key", "")),
                rejection=edge_message or edge_reason if edge_reason else "",
                rejection_reason=edge_reason,
            )
        )
        if not accepted.replayed:
            self.on_accepted()  # our own workers start at once; others poll
        return accepted

    async def status(
        self, metadata: dict[str, Any], request_id: str
    ) -> store_pb2.GetIntegrationRequestStatusResponse:
        return await self.store.integration_status(
            store_pb2.GetIntegrationRequestStatusRequest(
                project_token=bearer(metadata), request_id=request_id
            )
        )

    async def ping(self, metadata: dict[str, Any]) -> None:
        await self.store.ping(store_pb2.PingProjectTokenRequest(project_token=bearer(metadata)))

    async def submit_form(
        self,
        metadata: dict[str, Any],
        body: bytes,
        content_type: str,
        *,
        edge_reason: str = "",
        edge_message: str = "",
    ) -> store_pb2.SubmitFormResponse:
        """Plan the form against the token's schema and have the store write it: one store
        call when this matcher holds the token's current schema, two otherwise."""
        token = str(metadata.get("x-client-token", "")).strip()
        form = (
            FormBody(rejection=edge_message or edge_reason, reason=edge_reason)
            if edge_reason
            else read_form(body, content_type)
        )
        request = store_pb2.SubmitFormRequest(
            client_token=token,
            origin=str(metadata.get("origin", "")),
            submission=exactjson.to_raw(form.values),
            rejection=form.rejection,
            rejection_reason=form.reason,
        )
        schema = self.schemas.get(token)
        for _ in range(_SCHEMA_ATTEMPTS):
            request.ClearField("record")
            del request.violations[:]
            problems = list(form.problems)
            request.schema_version = schema.version if schema is not None else ""
            if schema is not None and not form.rejection:
                record, found = plan_form(schema, form)
                problems += found
                if record is not None:
                    request.record.CopyFrom(record)
            request.violations.extend(
                ingest_pb2.IngestFieldError(field=p.field, code=p.reason, message=p.description)
                for p in problems
            )
            answer = await self.store.submit_form(request)
            if not answer.HasField("schema"):
                return answer
            schema = answer.schema
            self.schemas.put(token, schema)
        raise SchemaChanging(
            "the form's entity type kept changing while the form was checked; retry it"
        )
