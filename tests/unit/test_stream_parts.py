"""Stream ingest pieces without I/O: body checks, item planning, keys, the envelope."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson
from inlet_common.errors import InvalidArgument, NotFound, Unauthenticated, Violation
from inlet_common.httpstatus import http_status
from inlet_gateway.envelopes import ErrorContext, envelope_for
from inlet_matcher.headers import rate_headers
from inlet_matcher.stream import bearer, check_body, plan_items
from inlet_store.inbox import body_hash
from inlet_store.streams import new_key, parse_key, secret_matches
from tests.stream_support import SALES


def value(doc: Any) -> bytes:
    return b"" if doc is None else exactjson.dumps(doc)


def test_single_object_is_one_item() -> None:
    checked = check_body(value({"region": "North"}), "")
    assert checked.single
    assert checked.rejection == ""
    assert len(checked.items) == 1


@pytest.mark.parametrize(
    ("doc", "item_key", "needle"),
    [
        (None, "", "empty"),
        (5, "", "got a number"),
        ("x", "", "got a string"),
        (True, "", "got a boolean"),
        ([], "", "empty array"),
        ([{"a": 1}, [1]], "", "items[1] is not a JSON object"),
        ([{"region": "N"}, {"region": None}], "region", "items[1] has no 'region'"),
        ({"other": 1}, "region", "body has no 'region'"),
    ],
)
def test_bad_bodies_name_the_problem(doc: Any, item_key: str, needle: str) -> None:
    body = value(doc)
    assert needle in check_body(body, item_key).rejection


def test_bearer_needs_the_scheme() -> None:
    assert bearer({"authorization": "Bearer ik_live_a_b"}) == "ik_live_a_b"
    assert bearer({"authorization": "bearer  ik_x "}) == "ik_x"
    assert bearer({"authorization": "ik_live_a_b"}) == ""
    assert bearer({}) == ""


def claimed(items: list[Any], item_key: str = "", done: tuple[int, ...] = ()) -> Any:
    found = store_pb2.ClaimStreamRequestResponse(
        claimed=True, entity_type=SALES, item_key=item_key, done_indices=list(done)
    )
    found.entity_type.id = "t1"
    found.items.CopyFrom(exactjson.to_raw(items))
    return found


def test_last_occurrence_of_an_item_key_wins() -> None:
    planned = plan_items(
        claimed([{"region": "N", "revenue": 1}, {"region": "S"}, {"region": "N"}], "region")
    )
    assert planned[0].superseded_by == 2
    assert not planned[1].HasField("superseded_by")
    assert list(planned[2].record.unique_fields) == ["region"]


def test_bad_item_becomes_its_own_error() -> None:
    planned = plan_items(claimed([{"region": "N"}, {"revenue": "x"}, {"nope": 1}]))
    assert planned[0].HasField("record")
    errors = [exactjson.from_raw(p.error) for p in planned[1:]]
    assert errors[0]["fields"][0]["field"] == "items[1].revenue"
    assert errors[1]["fields"][0]["code"] == "UNKNOWN_FIELD"


def test_done_items_are_not_planned_again() -> None:
    planned = plan_items(claimed([{"region": "a"}, {"region": "b"}, {"region": "c"}], done=(0, 1)))
    assert [p.index for p in planned] == [2]


def test_item_key_comes_before_the_types_unique_fields() -> None:
    with_unique = entity_pb2.EntityType()
    with_unique.CopyFrom(SALES)
    with_unique.fields.add(slug="code", type=entity_pb2.FIELD_TYPE_TEXT, unique=True)
    request = store_pb2.ClaimStreamRequestResponse(
        claimed=True, entity_type=with_unique, item_key="region"
    )
    request.items.CopyFrom(exactjson.to_raw([{"region": "N", "code": "c1"}]))
    [item] = plan_items(request)
    assert list(item.record.unique_fields) == ["region", "code"]


def test_keys_parse_and_verify() -> None:
    fresh = new_key("live")
    parsed = parse_key(fresh.full)
    assert parsed is not None
    assert parsed.key_id == fresh.key_id
    assert secret_matches(parsed.secret, fresh.secret_hash)
    assert not secret_matches(parsed.secret + "x", fresh.secret_hash)
    assert fresh.full.startswith("ik_live_")
    assert new_key("test").full.startswith("ik_test_")
    for bad in ("", "ik_live", "ik_prod_0123456789abcdef_s", "sk_live_0123456789abcdef_s"):
        assert parse_key(bad) is None


def test_body_hash_ignores_key_order_but_not_values() -> None:
    assert body_hash([{"a": 1, "b": 2}], False, "") == body_hash([{"b": 2, "a": 1}], False, "")
    assert body_hash([{"a": 1}], False, "") != body_hash([{"a": 2}], False, "")
    assert body_hash([{"a": 1}], False, "") != body_hash([{"a": 1}], True, "")
    assert body_hash([{"a": 1}], False, "") != body_hash([{"a": 1}], False, "a")


def test_rate_headers() -> None:
    state = store_pb2.RateLimitState(limit=10, remaining=0, reset_seconds=7, window_seconds=60)
    assert dict(rate_headers(state, limited=True)) == {
        "ratelimit-limit": "10",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "7",
        "ratelimit-policy": "10;w=60",
        "retry-after": "7",
    }
    assert "retry-after" not in dict(rate_headers(state, limited=False))


@pytest.mark.parametrize(
    ("error", "http", "code"),
    [
        (InvalidArgument("bad json", reason="MALFORMED_JSON"), 400, "INVALID_PAYLOAD"),
        (InvalidArgument("x", reason="INVALID_PAYLOAD"), 400, "INVALID_PAYLOAD"),
        (Unauthenticated("no key", reason="UNAUTHORIZED"), 401, "UNAUTHORIZED"),
        (NotFound("other", reason="STREAM_NOT_FOUND"), 404, "STREAM_NOT_FOUND"),
        (InvalidArgument("big", reason="PAYLOAD_TOO_LARGE"), 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_stream_envelope(error: Any, http: int, code: str) -> None:
    status = error.to_status()
    rendered = envelope_for("inlet.ingest.v1.IngestService.IngestStream")(
        ErrorContext(status, http_status(status.code, error.reason), "req_1")
    )
    body = orjson.loads(rendered.body)
    assert body == {
        "success": False,
        "error": {"code": code, "message": error.message, "request_id": "req_1"},
    }


def test_stream_envelope_details_and_422() -> None:
    error = InvalidArgument(
        "too long", reason="INVALID_PAYLOAD", violations=[Violation("Idempotency-Key", "x", "Y")]
    )
    rendered = envelope_for("inlet.ingest.v1.IngestService.IngestStream")(
        ErrorContext(error.to_status(), 400, "req_1")
    )
    details = orjson.loads(rendered.body)["error"]["details"]
    assert details == [{"field": "Idempotency-Key", "code": "Y", "message": "x"}]
    assert http_status(9, "IDEMPOTENCY_KEY_REUSED") == 422
