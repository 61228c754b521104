"""Push transfer: the workspace's sessions (create, detail with each type's entity-type
mapping, default webhooks and recent transfers) and its API keys (create, rotate, revoke)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inlet.admin.v1 import push_pb2
from inlet_common import exactjson
from inlet_gateway.console.credentials import (
    SHOWN_ONCE,
    grace_period,
    log_view,
    rotated,
    shown_once,
)
from inlet_gateway.console.pages_workspace import PAGE_SIZE
from inlet_gateway.console.upstream import ApiError
from inlet_gateway.console.web import Reply, Request, Route, redirect

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console

LOG_PAGE_SIZE = 25
# The ready-made types a session can be created with here; others (with their own entity
# type and field map) are set up with the CLI or the admin API.
STANDARD_TYPES = ("crm-contact", "crm-company")
BACK = ("/console/push-sessions", "Back to push sessions")


async def session_list(
    console: Console,
    request: Request,
    *,
    status: int = 200,
    error: str = "",
    fields: list[tuple[str, str]] | None = None,
) -> Reply:
    """The sessions, and the workspace's API keys (a key reaches every session)."""
    signed_in = request.signed_in
    page = await console.upstream.call(
        console.upstream.push.ListSessions,
        push_pb2.ListSessionsRequest(
            parent=signed_in.workspace,
            page_size=PAGE_SIZE,
            page_token=request.query.get("page_token", ""),
        ),
        signed_in.token,
    )
    keys = await console.upstream.call(
        console.upstream.push.ListApiKeys,
        push_pb2.ListApiKeysRequest(
            parent=signed_in.workspace,
            page_size=PAGE_SIZE,
            page_token=request.query.get("keys_page_token", ""),
        ),
        signed_in.token,
    )
    return console.page(
        request,
        "push_sessions.html",
        status=status,
        current="push-sessions",
        sessions=page.sessions,
        next_page_token=page.next_page_token,
        api_keys=keys.api_keys,
        keys_next_page_token=keys.next_page_token,
        standard_types=STANDARD_TYPES,
        done=request.query.get("done", ""),
        error=error,
        fields=fields or [],
        form=request.form,
        transfer_url=f"{request.origin}/api/push/transfer",
    )


async def session_create(console: Console, request: Request) -> Reply:
    form = request.form
    chosen = [name for name in STANDARD_TYPES if form.get(f"type_{name}") == "on"]
    try:
        made = await console.upstream.call(
            console.upstream.push.CreateSession,
            push_pb2.CreateSessionRequest(
                parent=request.signed_in.workspace,
                session=push_pb2.Session(
                    display_name=form.get("display_name", "").strip(),
                    default_region=form.get("default_region", "").strip().upper(),
                    types=[push_pb2.SessionType(endgrate_type=name) for name in chosen],
                ),
            ),
            request.signed_in.token,
        )
    except ApiError as error:
        return await session_list(
            console, request, status=400, error=error.message, fields=error.fields
        )
    return shown_once(
        console,
        request,
        current="push-sessions",
        title=f"Session {made.session.session_id} created",
        what="webhook signing secret",
        secret=made.webhook_secret,
        explain=(
            "It signs the session's webhooks (Standard Webhooks); check each payload with it. "
            "Shown once: copy it now."
        ),
        back=(f"/console/push-sessions/{made.session.session_id}", "On to the session"),
    )


async def session_detail(console: Console, request: Request) -> Reply:
    signed_in = request.signed_in
    name = f"{signed_in.workspace}/sessions/{request.params['session']}"
    got = await console.upstream.call(
        console.upstream.push.GetSession, push_pb2.GetSessionRequest(name=name), signed_in.token
    )
    log = await console.upstream.call(
        console.upstream.push.ListPushLogEntries,
        push_pb2.ListPushLogEntriesRequest(
            parent=name, page_size=LOG_PAGE_SIZE, page_token=request.query.get("page_token", "")
        ),
        signed_in.token,
    )
    session = got.session
    webhooks = [
        (label, hook.endpoint, exactjson.from_raw(hook.metadata, None))
        for label, hook in (
            ("Data", session.data_webhook),
            ("Completed", session.completed_webhook),
            ("Error", session.error_webhook),
        )
        if hook.endpoint
    ]
    return console.page(
        request,
        "push_session.html",
        current="push-sessions",
        push_session=session,
        webhooks=webhooks,
        signing_endpoint=session.webhook_endpoint.rsplit("/", 1)[-1],
        transfer_url=f"{request.origin}/api/push/transfer",
        log=[
            log_view(e, [("Transfer", e.transfer_id), ("API key", e.api_key)])
            for e in log.log_entries
        ],
        next_page_token=log.next_page_token,
    )


# --- API keys ---------------------------------------------------------------------------------


def _key_name(request: Request) -> str:
    return f"{request.signed_in.workspace}/apiKeys/{request.params['key']}"


async def api_key_create(console: Console, request: Request) -> Reply:
    made = await console.upstream.call(
        console.upstream.push.CreateApiKey,
        push_pb2.CreateApiKeyRequest(
            parent=request.signed_in.workspace,
            api_key=push_pb2.ApiKey(display_name=request.form.get("display_name", "").strip()),
        ),
        request.signed_in.token,
    )
    return shown_once(
        console,
        request,
        current="push-sessions",
        title=f"API key {made.api_key.prefix} created",
        what="API key",
        secret=made.secret,
        explain=(
            "Send it as Authorization: Bearer … with transfers to any session of this "
            f"workspace. {SHOWN_ONCE}"
        ),
        back=BACK,
    )


async def api_key_rotate(console: Console, request: Request) -> Reply:
    grace = grace_period(request)
    made = await console.upstream.call(
        console.upstream.push.RotateApiKey,
        push_pb2.RotateApiKeyRequest(
            name=_key_name(request), grace_seconds=grace.seconds if grace else 0
        ),
        request.signed_in.token,
    )
    return rotated(
        console,
        request,
        current="push-sessions",
        what="API key",
        made=made.api_key,
        secret=made.secret,
        previous=made.previous,
        back=BACK,
    )


async def api_key_revoke(console: Console, request: Request) -> Reply:
    await console.upstream.call(
        console.upstream.push.RevokeApiKey,
        push_pb2.RevokeApiKeyRequest(name=_key_name(request)),
        request.signed_in.token,
    )
    return redirect("/console/push-sessions?done=revoked")


ROUTES = [
    Route("GET", "/console/push-sessions", session_list),
    Route("POST", "/console/push-sessions", session_create),
    Route("GET", "/console/push-sessions/{session}", session_detail),
    Route("POST", "/console/api-keys", api_key_create),
    Route("POST", "/console/api-keys/{key}/rotate", api_key_rotate),
    Route("POST", "/console/api-keys/{key}/revoke", api_key_revoke),
]
