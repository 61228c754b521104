"""Streams: their ingest keys (create, rotate, revoke), read keys (create, revoke), the
connector log, the latest items and the live feed of item changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inlet.admin.v1 import admin_pb2, streams_pb2
from inlet_common import exactjson
from inlet_gateway.console.credentials import (
    SHOWN_ONCE,
    grace_period,
    log_view,
    rotated,
    shown_once,
)
from inlet_gateway.console.pages_workspace import PAGE_SIZE, entity_types
from inlet_gateway.console.upstream import ApiError
from inlet_gateway.console.web import PageError, Reply, Request, Route, redirect

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console

LOG_PAGE_SIZE = 25
LATEST_ITEMS = 10
MODES = {
    "live": streams_pb2.INGEST_KEY_MODE_LIVE,
    "test": streams_pb2.INGEST_KEY_MODE_TEST,
}
MODE_LABELS = {value: name for name, value in MODES.items()}


def _stream_name(request: Request) -> str:
    return f"{request.signed_in.workspace}/streams/{request.params['stream']}"


async def stream_list(
    console: Console,
    request: Request,
    *,
    status: int = 200,
    error: str = "",
    fields: list[tuple[str, str]] | None = None,
) -> Reply:
    session = request.signed_in
    page = await console.upstream.call(
        console.upstream.streams.ListStreams,
        streams_pb2.ListStreamsRequest(
            parent=session.workspace,
            page_size=PAGE_SIZE,
            page_token=request.query.get("page_token", ""),
        ),
        session.token,
    )
    return console.page(
        request,
        "streams.html",
        status=status,
        current="streams",
        streams=page.streams,
        next_page_token=page.next_page_token,
        types=await entity_types(console, request),
        error=error,
        fields=fields or [],
        form=request.form,
    )


async def stream_create(console: Console, request: Request) -> Reply:
    session = request.signed_in
    form = request.form
    stream_id = form.get("stream_id", "").strip()
    try:
        await console.upstream.call(
            console.upstream.streams.CreateStream,
            streams_pb2.CreateStreamRequest(
                parent=session.workspace,
                stream_id=stream_id,
                stream=streams_pb2.Stream(
                    display_name=form.get("display_name", "").strip(),
                    entity_type=form.get("entity_type", ""),
                    default_region=form.get("default_region", "").strip().upper(),
                ),
            ),
            session.token,
        )
    except ApiError as error:
        return await stream_list(
            console, request, status=400, error=error.message, fields=error.fields
        )
    return redirect(f"/console/streams/{stream_id}?done=created")


async def _live(console: Console, request: Request, stream: Any) -> dict[str, Any]:
    """The connector log (one page) and, on the first page, the stream's latest items."""
    session = request.signed_in
    page_token = request.query.get("page_token", "")
    log = await console.upstream.call(
        console.upstream.streams.ListConnectorLogEntries,
        streams_pb2.ListConnectorLogEntriesRequest(
            parent=stream.name, page_size=LOG_PAGE_SIZE, page_token=page_token
        ),
        session.token,
    )
    latest: list[Any] = []
    if not page_token:
        records = await console.upstream.call(
            console.upstream.admin.ListRecords,
            admin_pb2.ListRecordsRequest(
                parent=f"{session.workspace}/entityTypes/{stream.entity_type}",
                page_size=LATEST_ITEMS,
            ),
            session.token,
        )
        latest = [(r, exactjson.from_raw(r.values, {})) for r in records.records]
    return {
        "log": [log_view(e, [("Ingest key", e.ingest_key)]) for e in log.connector_log_entries],
        "next_page_token": log.next_page_token,
        "tail": not page_token,
        "latest": latest,
        "live_url": f"/console/streams/{request.params['stream']}/log",
    }


async def _get_stream(console: Console, request: Request) -> Any:
    got = await console.upstream.call(
        console.upstream.streams.GetStream,
        streams_pb2.GetStreamRequest(name=_stream_name(request)),
        request.signed_in.token,
    )
    return got.stream


async def stream_detail(console: Console, request: Request) -> Reply:
    session = request.signed_in
    stream = await _get_stream(console, request)
    read_keys = await console.upstream.call(
        console.upstream.streams.ListReadKeys,
        streams_pb2.ListReadKeysRequest(parent=stream.name, page_size=PAGE_SIZE),
        session.token,
    )
    keys = await console.upstream.call(
        console.upstream.streams.ListIngestKeys,
        streams_pb2.ListIngestKeysRequest(
            parent=stream.name,
            page_size=PAGE_SIZE,
            page_token=request.query.get("keys_page_token", ""),
        ),
        session.token,
    )
    return console.page(
        request,
        "stream.html",
        current="streams",
        stream=stream,
        slug=request.params["stream"],
        keys=keys.ingest_keys,
        keys_next_page_token=keys.next_page_token,
        mode_labels=MODE_LABELS,
        done=request.query.get("done", ""),
        ingest_url=f"{request.origin}/api/ingest",
        read_keys=read_keys.read_keys,
        feed_url=f"{request.origin}/api/streams/{request.params['stream']}/feed",
        live_feed_url=f"/console/streams/{request.params['stream']}/feed",
        **await _live(console, request, stream),
    )


async def stream_log(console: Console, request: Request) -> Reply:
    stream = await _get_stream(console, request)
    return console.page(
        request, "stream_live.html", stream=stream, **await _live(console, request, stream)
    )


async def key_create(console: Console, request: Request) -> Reply:
    mode = MODES.get(request.form.get("mode", "live"))
    if mode is None:
        raise PageError(400, "Refused", "Mode: live or test.")
    made = await console.upstream.call(
        console.upstream.streams.CreateIngestKey,
        streams_pb2.CreateIngestKeyRequest(
            parent=_stream_name(request),
            ingest_key=streams_pb2.IngestKey(
                display_name=request.form.get("display_name", "").strip(), mode=mode
            ),
        ),
        request.signed_in.token,
    )
    return shown_once(
        console,
        request,
        current="streams",
        title=f"Ingest key {made.ingest_key.prefix} created",
        what="ingest key",
        secret=made.secret,
        explain=f"Send it as Authorization: Bearer … to /api/ingest. {SHOWN_ONCE}",
        back=_back(request),
    )


def _back(request: Request) -> tuple[str, str]:
    return f"/console/streams/{request.params['stream']}", "Back to the stream"


def _key_name(request: Request) -> str:
    return f"{_stream_name(request)}/ingestKeys/{request.params['key']}"


async def key_revoke(console: Console, request: Request) -> Reply:
    await console.upstream.call(
        console.upstream.streams.RevokeIngestKey,
        streams_pb2.RevokeIngestKeyRequest(name=_key_name(request)),
        request.signed_in.token,
    )
    return redirect(f"/console/streams/{request.params['stream']}?done=revoked")


async def key_rotate(console: Console, request: Request) -> Reply:
    grace = grace_period(request)
    made = await console.upstream.call(
        console.upstream.streams.RotateIngestKey,
        streams_pb2.RotateIngestKeyRequest(
            name=_key_name(request), grace_seconds=grace.seconds if grace else 0
        ),
        request.signed_in.token,
    )
    return rotated(
        console,
        request,
        current="streams",
        what="ingest key",
        made=made.ingest_key,
        secret=made.secret,
        previous=made.previous,
        back=_back(request),
    )


async def stream_feed(console: Console, request: Request) -> Reply:
    """The stream's live feed for the page's EventSource: the same feed a read key gets,
    opened with the session's admin token."""
    last = request.headers.get(b"last-event-id", b"").decode("latin-1").strip()
    try:
        opened = await console.upstream.watch(
            request.params["stream"], request.signed_in.token, last
        )
    except ApiError as error:
        status = 400 if error.reason == "INVALID_PAYLOAD" else 404
        raise PageError(status, "Refused", error.message) from None
    return Reply(200, b"", stream=opened)


async def read_key_create(console: Console, request: Request) -> Reply:
    made = await console.upstream.call(
        console.upstream.streams.CreateReadKey,
        streams_pb2.CreateReadKeyRequest(
            parent=_stream_name(request),
            read_key=streams_pb2.ReadKey(display_name=request.form.get("display_name", "").strip()),
        ),
        request.signed_in.token,
    )
    return shown_once(
        console,
        request,
        current="streams",
        title=f"Read key {made.read_key.prefix} created",
        what="read key",
        secret=made.secret,
        explain=(
            "Send it as Authorization: Bearer … to read the stream's items and follow its live"
            f" feed; it cannot ingest. {SHOWN_ONCE}"
        ),
        back=_back(request),
    )


async def read_key_revoke(console: Console, request: Request) -> Reply:
    await console.upstream.call(
        console.upstream.streams.RevokeReadKey,
        streams_pb2.RevokeReadKeyRequest(
            name=f"{_stream_name(request)}/readKeys/{request.params['key']}"
        ),
        request.signed_in.token,
    )
    return redirect(f"/console/streams/{request.params['stream']}?done=revoked")


ROUTES = [
    Route("GET", "/console/streams", stream_list),
    Route("POST", "/console/streams", stream_create),
    Route("GET", "/console/streams/{stream}", stream_detail),
    Route("GET", "/console/streams/{stream}/log", stream_log),
    Route("POST", "/console/streams/{stream}/keys", key_create),
    Route("POST", "/console/streams/{stream}/keys/{key}/revoke", key_revoke),
    Route("POST", "/console/streams/{stream}/keys/{key}/rotate", key_rotate),
    Route("GET", "/console/streams/{stream}/feed", stream_feed),
    Route("POST", "/console/streams/{stream}/read-keys", read_key_create),
    Route("POST", "/console/streams/{stream}/read-keys/{key}/revoke", read_key_revoke),
]
