"""Stream ingest pieces without I/O: body and item checks, item planning, keys, the
envelope."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson
from inlet_common.envelopes import ErrorContext, envelope_for
from inlet_common.errors import InvalidArgument, NotFound, Unauthenticated, Violation
from inlet_common.httpstatus import http_status
from inlet_matcher.headers import rate_headers
from inlet_matcher.stream import (
    MAX_LISTED,
    SchemaCache,
    bearer,
    check_items,
    listed,
    read_body,
)
from inlet_matcher.stream_plan import SLICE, plan_items, plan_items_sliced
from inlet_store.inbox import body_hash, invalid_message
from inlet_store.streams import new_key, parse_key, secret_matches
from tests.stream_support import SALES


def value(doc: Any) -> bytes:
    return b"" if doc is None else exactjson.dumps(doc)


def test_single_object_is_one_item() -> None:
    read = read_body(value({"region": "North"}))
    assert read.single
    assert (read.unread, read.problems) == ("", ())
    assert len(read.items) == 1


@pytest.mark.parametrize(("data", "needle"), [(b"", "empty"), (b" ", "empty"), (b"{x", "JSON")])
def test_a_body_that_is_not_json_is_refused_unread(data: bytes, needle: str) -> None:
    read = read_body(data)
    assert needle in read.unread
    assert read.items == []


@pytest.mark.parametrize(
    ("doc", "code", "needle"),
    [
        (5, "INVALID_TYPE", "got a number"),
        ("x", "INVALID_TYPE", "got a string"),
        (True, "INVALID_TYPE", "got a boolean"),
        ([], "EMPTY_BODY", "empty array"),
    ],
)
def test_json_of_the_wrong_shape_is_a_problem_of_the_body(doc: Any, code: str, needle: str) -> None:
    read = read_body(value(doc))
    assert read.unread == ""
    assert read.items == []
    [problem] = read.problems
    assert (problem.field, problem.reason) == ("body", code)
    assert needle in problem.description


def schema() -> store_pb2.StreamSchema:
    return store_pb2.StreamSchema(version="v1", entity_type=SALES, default_region="NO")


def contacts_schema() -> store_pb2.StreamSchema:
    F = entity_pb2.Field
    contact = entity_pb2.EntityType(
        slug="contact",
        fields=[
            F(slug="email", type=entity_pb2.FIELD_TYPE_EMAIL, unique=True),
            F(slug="phone", type=entity_pb2.FIELD_TYPE_PHONE),
            F(slug="name", type=entity_pb2.FIELD_TYPE_TEXT, required=True),
        ],
    )
    return store_pb2.StreamSchema(version="v1", entity_type=contact, default_region="NO")


def named(problems: list[Violation]) -> list[tuple[str, str]]:
    return [(p.field, p.reason) for p in problems]


def test_every_bad_field_of_every_item_is_named() -> None:
    items = [
        {"email": "ola@acme.no", "phone": "+47 400 00 000"},
        {"email": "not-an-address", "phone": "---", "colour": "red"},
        "text",
        {"email": 5, "name": None},
    ]
    assert named(check_items(contacts_schema(), items, False, "")) == [
        ("items[1].email", "INVALID_EMAIL"),
        ("items[1].phone", "INVALID_PHONE"),
        ("items[1].colour", "UNKNOWN_FIELD"),
        ("items[2]", "INVALID_TYPE"),
        ("items[3].email", "INVALID_TYPE"),
        ("items[3].name", "REQUIRED_FIELD_MISSING"),
    ]


def test_a_single_object_is_named_body() -> None:
    problems = check_items(schema(), [{"revenue": "a lot", "colour": "red"}], True, "")
    assert named(problems) == [("body.revenue", "INVALID_TYPE"), ("body.colour", "UNKNOWN_FIELD")]


def test_a_required_field_left_out_is_not_judged_before_the_lookup() -> None:
    # Missing from a new record is a problem; an update may leave it out.
    assert check_items(contacts_schema(), [{"email": "ola@acme.no"}], False, "") == []


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([{"region": "N"}, {"revenue": 1}], [("items[1].region", "EMPTY_ITEM_KEY")]),
        ([{"region": None}], [("items[0].region", "EMPTY_ITEM_KEY")]),
        ([{"region": "  "}], [("items[0].region", "EMPTY_ITEM_KEY")]),
        ([{"region": 5}], [("items[0].region", "INVALID_TYPE")]),  # named once
    ],
)
def test_every_item_needs_its_x_item_key_value(
    items: list[Any], expected: list[tuple[str, str]]
) -> None:
    assert named(check_items(schema(), items, False, "region")) == expected


def test_an_x_item_key_that_is_no_field_is_named_once() -> None:
    problems = check_items(schema(), [{"region": "N"}, {"region": "S"}], False, "colour")
    assert named(problems) == [("X-Item-Key", "UNKNOWN_FIELD")]
    assert "region, revenue" in problems[0].description


def test_the_listed_bad_fields_fit_an_error_details_trailer() -> None:
    many = [Violation(f"items[{i}].email", "x" * 30, "INVALID_EMAIL") for i in range(500)]
    assert len(listed(many)) == MAX_LISTED
    long = [Violation(f"items[{i}].colour", "y" * 400, "UNKNOWN_FIELD") for i in range(50)]
    shown = listed(long)
    assert 1 <= len(shown) < 10
    assert listed([Violation("body", "z" * 10_000, "INVALID_TYPE")]) != []  # always one


def test_the_invalid_payload_message_counts_every_bad_field() -> None:
    three = tuple(Violation(f"items[{i}].email", "bad", "INVALID_EMAIL") for i in range(3))
    assert invalid_message(three[:1], 1) == "1 invalid field: items[0].email: bad"
    assert invalid_message(three, 3).startswith("3 invalid fields: items[0].email: bad; ")
    five = invalid_message(three, 5)
    assert five.endswith("and 2 more (the error details list the first 3)")
    body = (Violation("body", "request body is an empty array", "EMPTY_BODY"),)
    assert invalid_message(body, 1) == "request body is an empty array"


def test_schemas_are_cached_by_key_prefix_never_the_secret() -> None:
    cache = SchemaCache(size=2)
    cache.put("ik_live_aaaa_secret1", schema())
    assert cache.get("ik_live_aaaa_other") is not None  # the same key id
    assert all("secret" not in k for k in cache._entries)
    cache.put("ik_live_bbbb_s", schema())
    cache.get("ik_live_aaaa_s")
    cache.put("ik_live_cccc_s", schema())  # bbbb was used least recently
    assert cache.get("ik_live_bbbb_s") is None
    assert cache.get("ik_live_aaaa_s") is not None


def test_bearer_needs_the_scheme() -> None:
    assert bearer({"authorization": "Bearer ik_live_a_b"}) == "ik_live_a_b"
    assert bearer({"authorization": "bearer  ik_x "}) == "ik_x"
    assert bearer({"authorization": "ik_live_a_b"}) == ""
    assert bearer({}) == ""


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (rb'[{"a": "x"}, {"b": "y\u0000z"}]', "items[1].b"),
        (rb'{"k\u0000": 1}', "body.k\\u0000"),
        (rb'[{"a": "\\u0000"}]', None),  # a backslash, then "u0000": no NUL
        (b'[{"a": "x"}]', None),
    ],
)
def test_a_nul_anywhere_in_the_body_is_refused_naming_where(body: bytes, where: str | None) -> None:
    read = read_body(body)
    assert [p.field for p in read.problems] == ([where] if where else [])
    assert [p.reason for p in read.problems] == (["NUL_CHARACTER"] if where else [])


def claimed(items: list[Any], item_key: str = "", done: tuple[int, ...] = ()) -> Any:
    found = store_pb2.ClaimedStreamRequest(
        entity_type=SALES, item_key=item_key, done_indices=list(done)
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


async def test_sliced_planning_plans_the_same_and_lets_the_loop_run() -> None:
    items: list[Any] = [{"region": f"r{n % 7}", "revenue": n} for n in range(2 * SLICE + 5)]
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    before = ticks
    planned = await plan_items_sliced(claimed(items, "region", done=(3,)))
    ticker.cancel()
    assert planned == plan_items(claimed(items, "region", done=(3,)))
    assert ticks - before >= 2  # the loop ran between the slices


def test_item_key_comes_before_the_types_unique_fields() -> None:
    with_unique = entity_pb2.EntityType()
    with_unique.CopyFrom(SALES)
    with_unique.fields.add(slug="code", type=entity_pb2.FIELD_TYPE_TEXT, unique=True)
    request = store_pb2.ClaimedStreamRequest(entity_type=with_unique, item_key="region")
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
    assert http_status(status.code, error.reason) == http
    rendered = envelope_for("inlet.ingest.v1.IngestService.IngestStream")(
        ErrorContext(status, http, "req_1")
    )
    body = orjson.loads(rendered.body)
    assert body == {
        "success": False,
        "error": {"code": code, "message": error.message, "request_id": "req_1"},
    }


def test_stream_envelope_details_and_422() -> None:
    # 422 stays for endpoint push; a stream key repeated with another body is replayed.
    error = InvalidArgument(
        "too long", reason="INVALID_PAYLOAD", violations=[Violation("Idempotency-Key", "x", "Y")]
    )
    rendered = envelope_for("inlet.ingest.v1.IngestService.IngestStream")(
        ErrorContext(error.to_status(), 400, "req_1")
    )
    details = orjson.loads(rendered.body)["error"]["details"]
    assert details == [{"field": "Idempotency-Key", "code": "Y", "message": "x"}]
    assert http_status(9, "IDEMPOTENCY_KEY_REUSED") == 422
