"""Push transfer sessions: their types and default webhooks, example transfer and activity log."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from typing import Any

from inlet_common import pushwebhooks
from inlet_common.admin import paging
from inlet_common.admin.paging import PageTokens
from inlet_common.errors import (
    InvalidArgument,
    NotFound,
    Violation,
)
from inlet_store import apikeys
from inlet_store import repository as repo
from inlet_store.admin.endpoints import sample_value
from inlet_store.admin.push_keys import ApiKeys
from inlet_store.admin.push_specs import (
    UPDATABLE,
    Session,
    SessionSpec,
    SessionType,
    TypeSpec,
    check_webhooks,
)
from inlet_store.admin.push_types import resolve_types
from inlet_store.admin.session_signer import NoSigner, SessionSigner
from inlet_store.errors import wrap_exceptions

log = logging.getLogger(__name__)

_REGION = re.compile(r"^([A-Z]{2})?$")
_SESSION_ID = re.compile(r"^[0-9a-f]{24}$")


def bad(field_path: str, message: str, code: str) -> InvalidArgument:
    return InvalidArgument(message, violations=[Violation(field_path, message, code)])


class PushAdmin(ApiKeys):
    """Use cases over one pool; the signer keeps each session's webhook secret."""

    def __init__(self, pool: Any, signer: SessionSigner | None = None) -> None:
        super().__init__(pool)
        self.signer: SessionSigner = signer or NoSigner()

    # -- sessions -------------------------------------------------------------------------

    async def create_session(self, workspace: str, spec: SessionSpec) -> tuple[Session, str]:
        _check_region("session.", spec.default_region)
        webhooks, problems = check_webhooks(spec.webhooks, "session.")
        if problems:
            raise InvalidArgument("invalid session webhooks", violations=problems)
        session_id = apikeys.new_session_id()
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            types = await resolve_types(conn, workspace_id, spec.types, "session.")
        # The secret is made and kept by the notifier before the session exists, so a
        # session never lacks one; a failed insert leaves an unused endpoint behind.
        endpoint_id, secret = await self.signer.create_session_endpoint(workspace_id, session_id)
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            await repo.execute(
                conn,
                "insert_session",
                id=session_id,
                workspace_id=workspace_id,
                display_name=spec.display_name,
                default_region=spec.default_region,
                data_webhook=_json_or_null(webhooks.get("data")),
                completed_webhook=_json_or_null(webhooks.get("completed")),
                error_webhook=_json_or_null(webhooks.get("error")),
                webhook_endpoint_id=endpoint_id,
            )
            await self._insert_types(conn, session_id, types)
            session = await self._session(conn, workspace_id, session_id)
        return session, secret

    @staticmethod
    async def _insert_types(
        conn: repo.Conn, session_id: str, types: list[tuple[TypeSpec, str]]
    ) -> None:
        for position, (spec, type_id) in enumerate(types):
            await repo.execute(
                conn,
                "insert_session_type",
                session_id=session_id,
                endgrate_type=spec.endgrate_type,
                entity_type_id=type_id,
                field_map=repo.jsonb(spec.field_map),
                position=position,
            )

    async def _session(self, conn: repo.Conn, workspace_id: str, session_id: str) -> Session:
        found = await repo.row(conn, "get_session", id=session_id, workspace_id=workspace_id)
        if found is None:
            raise NotFound(f"no session {session_id!r}", reason="SESSION_NOT_FOUND")
        return (await self._with_types(conn, [found]))[0]

    @staticmethod
    async def _with_types(conn: repo.Conn, found: list[dict[str, Any]]) -> list[Session]:
        types: dict[str, list[SessionType]] = {str(s["id"]): [] for s in found}
        for t in await repo.rows(conn, "session_types", session_ids=list(types)):
            types[t["session_id"]].append(
                SessionType(
                    endgrate_type=t["endgrate_type"],
                    entity_type_id=str(t["entity_type_id"]),
                    entity_type=t["entity_type"],
                    field_map=dict(t["field_map"]),
                )
            )
        return [
            Session(
                id=s["id"],
                workspace_id=str(s["workspace_id"]),
                display_name=s["display_name"],
                default_region=s["default_region"],
                webhooks={
                    "data": s["data_webhook"],
                    "completed": s["completed_webhook"],
                    "error": s["error_webhook"],
                },
                webhook_endpoint_id=str(s["webhook_endpoint_id"] or ""),
                create_time=s["create_time"],
                types=tuple(types[s["id"]]),
            )
            for s in found
        ]

    async def get_session(self, workspace: str, session_id: str) -> Session:
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            return await self._session(conn, workspace_id, _session_id(session_id))

    async def list_sessions(
        self, workspace: str, page_size: int, page_token: str
    ) -> tuple[list[Session], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("sessions", workspace)
        cursor = tokens.decode(page_token, 2)
        after_time = paging.as_time(cursor[0]) if cursor else None
        after_id = paging.as_text(cursor[1]) if cursor else ""
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            found = await repo.rows(
                conn,
                "list_sessions",
                workspace_id=workspace_id,
                after_time=after_time,
                after_id=after_id,
                limit=limit + 1,
            )
            sessions = await self._with_types(conn, found[:limit])
        _, token = tokens.page(found, limit, lambda r: (r["create_time"], str(r["id"])))
        return sessions, token

    async def update_session(
        self, workspace: str, session_id: str, spec: SessionSpec, paths: Collection[str]
    ) -> Session:
        assert paths, "an update names what it changes"
        assert set(paths) <= set(UPDATABLE), paths
        if "default_region" in paths:
            _check_region("session.", spec.default_region)
        webhooks, problems = check_webhooks(
            {
                short: spec.webhooks.get(short)
                for n, short in pushwebhooks.OPTIONS.items()
                if n in paths
            },
            "session.",
        )
        if problems:
            raise InvalidArgument("invalid session webhooks", violations=problems)
        session_id = _session_id(session_id)
        async with wrap_exceptions(), self.pool.connection() as conn, conn.transaction():
            workspace_id = await self._workspace_id(conn, workspace)
            if (
                await repo.row(conn, "lock_session", id=session_id, workspace_id=workspace_id)
                is None
            ):
                raise NotFound(f"no session {session_id!r}", reason="SESSION_NOT_FOUND")
            if "types" in paths:
                types = await resolve_types(conn, workspace_id, spec.types, "session.")
                await repo.execute(conn, "delete_session_types", session_id=session_id)
                await self._insert_types(conn, session_id, types)
            await repo.execute(
                conn,
                "update_session",
                id=session_id,
                workspace_id=workspace_id,
                paths=sorted(paths),
                display_name=spec.display_name,
                default_region=spec.default_region,
                data_webhook=_json_or_null(webhooks.get("data")),
                completed_webhook=_json_or_null(webhooks.get("completed")),
                error_webhook=_json_or_null(webhooks.get("error")),
            )
            return await self._session(conn, workspace_id, session_id)

    async def delete_session(self, workspace: str, session_id: str) -> None:
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            found = await repo.row(
                conn, "delete_session", id=_session_id(session_id), workspace_id=workspace_id
            )
        if found is None or not found["deleted"]:
            raise NotFound(f"no session {session_id!r}", reason="SESSION_NOT_FOUND")

    async def session_example(
        self, workspace: str, session_id: str, endgrate_type: str
    ) -> tuple[Session, dict[str, Any], list[tuple[str, str, bool, bool, Any]], bool]:
        """The transfer body, its fields (path, type, unique, required, value) and whether
        the values come from sample data."""
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            session = await self._session(conn, workspace_id, _session_id(session_id))
            by_name = {t.endgrate_type: t for t in session.types}
            chosen = by_name.get(endgrate_type or session.types[0].endgrate_type)
            if chosen is None:
                raise bad(
                    "endgrate_type",
                    f"{endgrate_type!r} is not a type of session {session.id}"
                    f" (types: {', '.join(by_name)})",
                    "UNKNOWN_ENDGRATE_TYPE",
                )
            types = await repo.entity_types(conn, [t.entity_type_id for t in session.types])
            samples = {
                t.endgrate_type: await repo.row(
                    conn, "newest_sample_record", entity_type_id=t.entity_type_id
                )
                for t in session.types
            }
        fields: list[tuple[str, str, bool, bool, Any]] = []
        from_sample = samples[chosen.endgrate_type] is not None

        def data_of(t: SessionType, path: str) -> dict[str, Any]:
            sample = samples[t.endgrate_type]
            stored = dict(sample["data"]) if sample else {}
            names = {slug: name for name, slug in t.field_map.items()}
            data: dict[str, Any] = {}
            for f in types[t.entity_type_id].fields:
                if f.type == "reference":
                    continue
                name = names.get(f.slug, f.slug)
                value = stored.get(f.slug) if sample else sample_value(f, session.default_region)
                if sample and value is None:
                    continue
                data[name] = value
                fields.append((f"{path}.{name}", f.type, f.unique, f.required, value))
            return data

        item: dict[str, Any] = {
            "internal_id": "Example1",
            "data": data_of(chosen, "transfer_data[0].data"),
        }
        associations = {
            t.endgrate_type: [
                {
                    "internal_id": f"Example{t.endgrate_type.title().replace('-', '')}1",
                    "data": data_of(t, f"transfer_data[0].associations.{t.endgrate_type}[0].data"),
                }
            ]
            for t in session.types
            if t.endgrate_type != chosen.endgrate_type
        }
        if associations:
            item["associations"] = associations
        payload = {
            "endgrate_type": chosen.endgrate_type,
            "session_id": session.id,
            "transfer_data": [item],
        }
        return session, payload, fields, from_sample

    async def push_log(
        self, workspace: str, session_id: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        limit = paging.page_size(page_size)
        tokens = PageTokens("pushLogEntries", workspace, session_id)
        cursor = tokens.decode(page_token, 1)
        before = paging.as_int(cursor[0]) if cursor else None
        async with wrap_exceptions(), self.pool.connection() as conn:
            workspace_id = await self._workspace_id(conn, workspace)
            session = await self._session(conn, workspace_id, _session_id(session_id))
            found = await repo.rows(
                conn, "list_push_log", session_id=session.id, before=before, limit=limit + 1
            )
        return tokens.page(found, limit, lambda r: (r["id"],))


def _check_region(prefix: str, region: str) -> None:
    if not _REGION.match(region):
        raise bad(
            f"{prefix}default_region",
            "default_region must be two upper-case letters (ISO 3166) or empty",
            "INVALID_REGION",
        )


def _session_id(text: str) -> str:
    if not _SESSION_ID.match(text):
        raise NotFound(f"no session {text!r}", reason="SESSION_NOT_FOUND")
    return text


def _json_or_null(value: dict[str, Any] | None) -> Any:
    return repo.json(value) if value is not None else None
