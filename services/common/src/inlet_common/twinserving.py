"""Serving a twin: a typed handler's answer or error rendered as the client gets it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf import descriptor, message

from inlet_common import httprules, mediatypes, nul, sse
from inlet_common.edge import (
    CONTENT_TYPE_KEY,
    EDGE_ERROR_KEY,
    EDGE_FIELD_KEY,
    EDGE_JUDGED_RPCS,
    EDGE_MESSAGE_KEY,
    QUERY_KEY,
)
from inlet_common.errors import InletError, InvalidArgument, Violation
from inlet_common.httprender import HTTP_CODE_KEY, HttpSettings, render_error, render_success

log = logging.getLogger(__name__)

Behavior = Callable[[Any, Any], Awaitable[Any]]


class _Recorder:
    """Initial metadata a typed handler sends, kept to go out with the rendered answer; and
    the call's metadata as the handler sees it (with an edge refusal added)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.headers: list[tuple[str, str]] = []
        self.added: list[tuple[str, str]] = []

    async def send_initial_metadata(self, metadata: Sequence[tuple[str, str]]) -> None:
        self.headers.extend(metadata)

    def invocation_metadata(self) -> tuple[tuple[str, Any], ...]:
        return (*(self._context.invocation_metadata() or ()), *self.added)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def twin_behavior(
    method: descriptor.MethodDescriptor,
    typed: Behavior,
    settings: HttpSettings,
    build: Callable[[Any, str], message.Message] | None = None,
    route: httprules.Route | None = None,
) -> Behavior:
    """The twin of one RPC: the typed handler, its answer or error rendered. The request
    arrives with the URL's path fields; the query as sent (x-inlet-query) is applied here,
    by `route`, and `build` adds a JSON body (that twin gets bytes)."""
    full_name = method.full_name

    judges_media = (
        route is not None and bool(route.body) and full_name not in mediatypes.OWN_MEDIA_TYPES
    )
    required = full_name in mediatypes.CONTENT_TYPE_REQUIRED

    async def behavior(arrived: Any, context: Any) -> httpbody_pb2.HttpBody:
        recorder = _Recorder(context)
        try:
            if judges_media:
                # Judged before anything else, as an edge would: not logged, no credential read.
                problem = mediatypes.check_json_content_type(
                    _metadata_value(context, CONTENT_TYPE_KEY),
                    required=required,
                    body=not required or _has_body(arrived, route),
                )
                if problem is not None:
                    raise problem
            query = _query_of(context)
            try:
                request = build(arrived, query) if build is not None else arrived
                if build is None and route is not None:
                    httprules.apply_query(route, request, query)
            except httprules.TranscodeError as bad:
                refused = _invalid(bad)
                if build is not None or route is None or full_name not in EDGE_JUDGED_RPCS:
                    raise refused from None
                # As for an edge's refusal: the handler sees the URL's path fields and the
                # refusal, checks the credential, logs the attempt and raises it.
                recorder.added = _edge_metadata(refused)
                await typed(httprules.path_fields_only(route, arrived), recorder)
                raise refused from None
            # No string with a NUL gets in: PostgreSQL could not store it.
            nul.refuse_in_message(request)
            answer = render_success(method, await typed(request, recorder), recorder.headers)
        except InletError as error:
            answer = render_error(full_name, error, recorder.headers, settings)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled error in %s", full_name)
            internal = InletError("internal error")
            answer = render_error(full_name, internal, recorder.headers, settings)
        await context.send_initial_metadata([(HTTP_CODE_KEY, str(answer.status)), *answer.headers])
        return answer.body

    return behavior


class _FeedWriter:
    """The context a typed feed handler writes to: each message goes out as its event
    (the stream's status and headers with the first), an error as its answer or, once the
    stream began, as its last event."""

    def __init__(self, context: Any, full_name: str, settings: HttpSettings) -> None:
        self._context = context
        self._full_name = full_name
        self._settings = settings
        self.started = False

    async def write(self, response: message.Message) -> None:
        chunk = sse.event(response)
        if not self.started:
            await self._context.send_initial_metadata([(HTTP_CODE_KEY, "200"), *sse.HEADERS])
            self.started = True
            chunk = sse.opening() + chunk
        await self._context.write(httpbody_pb2.HttpBody(content_type=sse.CONTENT_TYPE, data=chunk))

    async def fail(self, error: InletError) -> None:
        answer = render_error(self._full_name, error, [], self._settings)
        if self.started:
            event = sse.error_event(answer.body.data)
            await self._context.write(
                httpbody_pb2.HttpBody(content_type=sse.CONTENT_TYPE, data=event)
            )
            return
        self.started = True
        code = [(HTTP_CODE_KEY, str(answer.status)), *answer.headers]
        await self._context.send_initial_metadata(code)
        await self._context.write(answer.body)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def feed_twin_behavior(
    method: descriptor.MethodDescriptor,
    typed: Callable[[Any, Any], Any],
    settings: HttpSettings,
    route: httprules.Route | None,
) -> Callable[[Any, Any], Awaitable[None]]:
    """The twin of a server-streaming RPC: its query (x-inlet-query) applied by `route`,
    its messages written as Server-Sent Events, its error in the dialect's envelope (before
    the first event, with its HTTP status as `x-http-code`; after it, as the last event).
    The call itself always ends OK, as an HTTP answer already begun cannot change."""
    full_name = method.full_name

    async def behavior(arrived: Any, context: Any) -> None:
        writer = _FeedWriter(context, full_name, settings)
        try:
            if route is not None:
                try:
                    httprules.apply_query(route, arrived, _query_of(context))
                except httprules.TranscodeError as bad:
                    raise _invalid(bad) from None
            nul.refuse_in_message(arrived)
            produced = typed(arrived, writer)
            if hasattr(produced, "__aiter__"):
                async for response in produced:
                    await writer.write(response)
            else:
                await produced
        except InletError as error:
            await writer.fail(error)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled error in %s", full_name)
            await writer.fail(InletError("internal error"))
        if not writer.started:
            await context.send_initial_metadata([(HTTP_CODE_KEY, "204")])

    return behavior


def _query_of(context: Any) -> str:
    return _metadata_value(context, QUERY_KEY) or ""


def _metadata_value(context: Any, wanted: str) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == wanted and isinstance(value, str):
            return value
    return None


def _has_body(arrived: Any, route: httprules.Route | None) -> bool:
    """Whether a raw-body request (google.api.HttpBody in its body field) carries bytes."""
    if (
        route is None
        or not route.body
        or route.body == "*"
        or not isinstance(arrived, message.Message)
    ):
        return True
    found = getattr(arrived, route.body, None)
    return not isinstance(found, httpbody_pb2.HttpBody) or bool(found.data)


def _invalid(bad: httprules.TranscodeError) -> InletError:
    violations = [Violation(bad.field, bad.message, bad.code)] if bad.field else []
    return InvalidArgument(bad.message, reason=bad.reason, violations=violations)


def _edge_metadata(refused: InletError) -> list[tuple[str, str]]:
    added = [(EDGE_ERROR_KEY, refused.reason), (EDGE_MESSAGE_KEY, refused.message)]
    added.extend((EDGE_FIELD_KEY, v.field) for v in refused.violations[:1])
    return added
