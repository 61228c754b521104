"""HTTP twins without a server: what a twin answers for a typed handler's success, error,
refused query or JSON body (a fake context records the metadata it sends)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from inlet.admin.v1 import admin_pb2
from inlet.ingest.v1 import external_pb2, ingest_pb2
from inlet.type.v1 import result_pb2
from inlet_common import httprules, httptwins, requestids, twinserving
from inlet_common.errors import NotFound, ResourceExhausted
from inlet_common.httprender import HttpSettings

INGEST = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"]
EXTERNAL = external_pb2.DESCRIPTOR.services_by_name["ExternalIngestService"]
ADMIN = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]


class FakeContext:
    def __init__(self, *metadata: tuple[str, str]) -> None:
        self.metadata = metadata
        self.sent: list[tuple[str, str]] = []

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    async def send_initial_metadata(self, metadata: list[tuple[str, str]]) -> None:
        self.sent.extend(metadata)


class Handler:
    """A typed handler: records what it saw, answers `answer` or raises it."""

    def __init__(self, answer: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.answer = answer
        self.headers = headers
        self.seen: list[tuple[Any, dict[str, str]]] = []

    async def __call__(self, request: Any, context: Any) -> Any:
        self.seen.append((request, dict(context.invocation_metadata())))
        if self.headers:
            await context.send_initial_metadata(self.headers)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _route(service: Any, name: str) -> httprules.Route:
    return next(r for r in httprules.build_routes([(service, "")]).routes if r.method.name == name)


async def _twin(
    service: Any, name: str, handler: Handler, arrived: Any, context: FakeContext
) -> Any:
    method = service.methods_by_name[name]
    route = _route(service, name)
    build = None
    if httprules.carries_json_body(route):
        build = httptwins._json_body_builder(route)
    behavior = twinserving.twin_behavior(method, handler, HttpSettings(), build, route)
    with requestids.bound("req_test"):
        return await behavior(arrived, context)


async def test_a_success_is_the_json_the_client_gets_with_its_status_and_headers() -> None:
    answer = ingest_pb2.PushEndpointResponse(
        record=result_pb2.EntityResult(id="r1", action="created")
    )
    handler = Handler(answer, (("x-http-code", "202"), ("ratelimit-remaining", "4")))
    context = FakeContext()

    body = await _twin(INGEST, "PushEndpoint", handler, ingest_pb2.PushEndpointRequest(), context)

    assert body.content_type == "application/json"
    assert orjson.loads(body.data) == {"record": {"id": "r1", "action": "created"}}
    assert context.sent == [("x-http-code", "202"), ("ratelimit-remaining", "4")]


async def test_an_error_is_its_dialects_envelope_with_retry_after() -> None:
    limited = ResourceExhausted(
        "rate limit reached",
        reason="RATE_LIMITED",
        details=[_retry_info(2.5)],
    )
    context = FakeContext()

    body = await _twin(
        INGEST, "IngestStream", Handler(limited), ingest_pb2.IngestStreamRequest(), context
    )

    assert orjson.loads(body.data) == {
        "success": False,
        "error": {
            "code": "RATE_LIMITED",
            "message": "rate limit reached",
            "request_id": "req_test",
        },
    }
    assert context.sent == [("x-http-code", "429"), ("retry-after", "3")]


async def test_a_bodyless_answer_uses_the_rules_response_body() -> None:
    pong = external_pb2.PingResponse()
    pong.body.content_type = "text/plain"
    pong.body.data = b"Pong"
    context = FakeContext()

    body = await _twin(EXTERNAL, "Ping", Handler(pong), external_pb2.PingRequest(), context)

    assert (body.content_type, body.data) == ("text/plain", b"Pong")
    assert context.sent == [("x-http-code", "200")]


async def test_an_unknown_query_parameter_of_a_dialect_is_judged_as_an_edge_refusal() -> None:
    handler = Handler(NotFound("no such endpoint", reason="ENDPOINT_NOT_FOUND"))
    arrived = ingest_pb2.PushEndpointRequest(token="t1")
    arrived.body.data = b'{"fields": {}}'
    context = FakeContext(("x-inlet-query", "debug=1"))

    body = await _twin(INGEST, "PushEndpoint", handler, arrived, context)

    # The handler saw the URL's fields only, and the refusal: its verdict is the answer.
    ((request, metadata),) = handler.seen
    assert request.token == "t1"
    assert not request.HasField("body")
    assert metadata["x-inlet-edge-error"] == "INVALID_QUERY"
    assert metadata["x-inlet-edge-field"] == "debug"
    assert orjson.loads(body.data)["code"] == "ENDPOINT_NOT_FOUND"


async def test_an_unknown_query_parameter_elsewhere_is_refused_before_the_handler() -> None:
    handler = Handler(admin_pb2.ListEntityTypesResponse())
    context = FakeContext(("x-inlet-query", "nope=1"))

    body = await _twin(
        ADMIN, "ListEntityTypes", handler, admin_pb2.ListEntityTypesRequest(parent="w"), context
    )

    assert handler.seen == []
    assert orjson.loads(body.data)["errors"] == [
        {"field": "nope", "code": "UNKNOWN_FIELD", "message": 'unknown query parameter "nope"'}
    ]
    assert context.sent[0] == ("x-http-code", "400")


async def test_a_query_parameter_is_set_on_the_request() -> None:
    handler = Handler(admin_pb2.ListEntityTypesResponse())
    context = FakeContext(("x-inlet-query", "page_size=2"))

    await _twin(
        ADMIN, "ListEntityTypes", handler, admin_pb2.ListEntityTypesRequest(parent="w"), context
    )

    ((request, _),) = handler.seen
    assert (request.parent, request.page_size) == ("w", 2)


@pytest.mark.parametrize(
    ("body", "code"),
    [(b'{"slug": "a", "nope": 1}', "UNKNOWN_FIELD"), (b"{", "MALFORMED_JSON")],
)
async def test_a_json_body_is_parsed_by_the_twin(body: bytes, code: str) -> None:
    handler = Handler(admin_pb2.CreateEntityTypeResponse())
    carried = admin_pb2.CreateEntityTypeRequest(parent="workspaces/w")
    arrived = httptwins.with_json_body(carried, body, "application/json")

    answer = await _twin(ADMIN, "CreateEntityType", handler, arrived, FakeContext())

    problem = orjson.loads(answer.data)
    assert code in (problem["code"], *(e["code"] for e in problem.get("errors", [])))
    assert handler.seen == []


async def test_the_urls_fields_win_over_the_bodys() -> None:
    handler = Handler(admin_pb2.CreateEntityTypeResponse())
    carried = admin_pb2.CreateEntityTypeRequest(parent="workspaces/w")
    body = b'{"slug": "deal", "display_name": "Deal"}'
    arrived = httptwins.with_json_body(carried, body, "application/json")

    await _twin(ADMIN, "CreateEntityType", handler, arrived, FakeContext())

    ((request, _),) = handler.seen
    assert request.parent == "workspaces/w"
    assert (request.entity_type.slug, request.entity_type.display_name) == ("deal", "Deal")


def _retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    delay = duration_pb2.Duration()
    delay.FromTimedelta(timedelta(seconds=seconds))
    return error_details_pb2.RetryInfo(retry_delay=delay)
