"""Property-based tests (Hypothesis) of the parsers, the normaliser and the planner: for
any input they answer inside their contract — a value or their own error, never another
exception — and what they accept survives a round trip unchanged. INLET_FUZZ_EXAMPLES
scales them (`make fuzz`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import example, given
from hypothesis import strategies as st

from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson
from inlet_common.errors import InletError
from inlet_common.normalise import FieldProblem, key_text, normalise
from inlet_matcher.bodies import push_body
from inlet_matcher.errors import ValidationFailed
from inlet_matcher.form import read_form
from inlet_matcher.planner import plan_push
from inlet_matcher.stream import read_body
from inlet_matcher.transfer import read_transfer
from tests.fuzzing import body_around, encode, fuzz_settings, json_values, odd_text

T = entity_pb2
TYPES = [
    T.FIELD_TYPE_TEXT,
    T.FIELD_TYPE_EMAIL,
    T.FIELD_TYPE_PHONE,
    T.FIELD_TYPE_NUMBER,
    T.FIELD_TYPE_INTEGER,
    T.FIELD_TYPE_BOOLEAN,
    T.FIELD_TYPE_DATETIME,
    T.FIELD_TYPE_REFERENCE,
]
# Values as a parsed body holds them (numbers exact), with the strings people send.
people_text = st.one_of(
    odd_text,
    st.sampled_from(
        [
            "+47 998 87 766",
            "0047 99887766",
            "(555) 123-4567 ext. 12",
            "ola@ACME.no",
            " Ola.Nordmann+tag@acme.no ",
            "2026-04-06T10:30:00",
            "2026-04-06T10:30:00+02:00",
            "0001-01-01",
            "9999-12-31T23:59:59.999999Z",
            "6f1c2b9a-8e7d-6c5b-4a3f-2e1d00000000",
            "1" * 40,
        ]
    ),
)
# exactjson makes an int only inside 64 bits (a Number beyond).
ints = st.integers(-(2**63), 2**64 - 1)
parsed_values = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    people_text,
    st.sampled_from(["1e999999", "-0", "1.50", "9" * 5000, "1e-999999", "1e3"]).map(
        exactjson.Number
    ),
    st.lists(ints, max_size=2),
    st.dictionaries(st.text(max_size=3), ints, max_size=2),
)


E = TypeVar("E", bound=Exception)
R = TypeVar("R")


def attempt(call: Callable[[], R], expected: type[E]) -> tuple[R, None] | tuple[None, E]:
    """`call()`'s value, or the `expected` error it raised (any other propagates)."""
    try:
        return call(), None
    except expected as error:
        return None, error


@fuzz_settings(scale=3)
@given(data=st.binary(max_size=200))
def test_exactjson_loads_any_bytes_is_a_value_or_a_decode_error(data: bytes) -> None:
    try:
        value = exactjson.loads(data)
    except exactjson.DecodeError:
        return
    assert exactjson.loads(exactjson.dumps(value)) == value


@fuzz_settings(scale=3)
@given(value=json_values(30))
def test_exactjson_keeps_every_accepted_document_exactly(value: Any) -> None:
    text = encode(value)
    try:
        parsed = exactjson.loads(text)
    except exactjson.DecodeError:
        return
    once = exactjson.dumps(parsed)
    # Written again, read again: the same bytes (numbers keep their text).
    assert exactjson.dumps(exactjson.loads(once)) == once


@fuzz_settings(scale=3)
@given(
    kind=st.sampled_from(TYPES),
    value=parsed_values,
    region=st.sampled_from(["NO", "US", "GB", ""]),
    unique=st.booleans(),
)
# Found by make fuzz: a combining mark after a space that the phone key drops.
@example(kind=T.FIELD_TYPE_PHONE, value="0A \u0301", region="NO", unique=True)
def test_normalise_is_a_fixed_point_or_a_field_problem(
    kind: int, value: Any, region: str, unique: bool
) -> None:
    field = T.Field(slug="f", type=kind, unique=unique)  # type: ignore[arg-type]
    once, problem = attempt(lambda: normalise(field, value, region), FieldProblem)
    if problem is not None:
        assert problem.reason
        return
    # Normalising what was normalised changes nothing: a stored key always matches again.
    assert normalise(field, once, region) == once
    assert isinstance(key_text(once), str)
    assert exactjson.loads(exactjson.dumps(once)) == once


CONTACT = T.EntityType(
    id="t-contact",
    slug="contact",
    fields=[
        T.Field(slug="name", type=T.FIELD_TYPE_TEXT, required=True),
        T.Field(slug="email", type=T.FIELD_TYPE_EMAIL, unique=True),
        T.Field(slug="phone", type=T.FIELD_TYPE_PHONE, unique=True),
        T.Field(slug="born", type=T.FIELD_TYPE_DATETIME),
        T.Field(slug="score", type=T.FIELD_TYPE_INTEGER, unique=True),
    ],
)
DEAL = T.EntityType(
    id="t-deal",
    slug="deal",
    fields=[
        T.Field(slug="title", type=T.FIELD_TYPE_TEXT, required=True),
        T.Field(slug="value", type=T.FIELD_TYPE_NUMBER),
        T.Field(slug="contact", type=T.FIELD_TYPE_REFERENCE, reference_entity_type="contact"),
    ],
)
ENDPOINT = store_pb2.PushSchema(
    version="v1",
    workspace_id="w",
    endpoint_id="e",
    default_region="NO",
    entity_type=DEAL,
    referenced_types={"contact": CONTACT},
)
slugs = st.sampled_from(["title", "value", "contact", "name", "email", "phone", "born", "x"])


@fuzz_settings(scale=3)
@given(
    fields=st.dictionaries(slugs, parsed_values, max_size=4),
    related=st.dictionaries(
        st.sampled_from(["contact", "org"]),
        st.dictionaries(slugs, parsed_values, max_size=4),
        max_size=2,
    ),
)
def test_the_planner_plans_or_names_every_bad_field(
    fields: dict[str, Any], related: dict[str, dict[str, Any]]
) -> None:
    plan, error = attempt(lambda: plan_push(ENDPOINT, fields, related), ValidationFailed)
    if error is not None:
        assert error.violations
        for v in error.violations:
            assert v.field.startswith(("fields", "related.")), v
            assert v.reason
        return
    assert plan is not None
    for planned in [plan.record, *plan.related.values()]:
        values = exactjson.from_raw(planned.values, {})
        assert set(planned.unique_fields) <= set(values)
        assert all(values[s] is not None for s in planned.unique_fields)


PUSH = b'{"fields": {"email": "a@acme.no", "name": @}, "related": {"contact": {"x": 1}}}'


@fuzz_settings(scale=3)
@given(data=body_around(PUSH))
def test_push_body_reads_or_refuses_with_its_own_error(data: bytes) -> None:
    body, error = attempt(lambda: push_body(data), InletError)
    if error is not None:
        assert error.reason
        return
    assert body is not None
    assert isinstance(body.fields, dict)
    exactjson.dumps(body.canonical())


@fuzz_settings(scale=3)
@given(data=body_around(b'[{"region": @, "revenue": 1}]'))
def test_stream_read_body_never_raises(data: bytes) -> None:
    read = read_body(data)
    if read.unread or read.problems:
        assert not read.items
    else:
        exactjson.dumps(read.items)


@fuzz_settings(scale=3)
@given(
    data=body_around(
        b'{"endgrate_type": "crm-contact", "session_id": "s", "transfer_data": [{"data": @}]}'
    )
)
def test_push_transfer_reading_never_raises(data: bytes) -> None:
    read = read_transfer(data)
    for problem in read.problems:
        assert problem.reason, problem
        # Named by its path; a key that is the empty string is named in the message.
        assert problem.field or "''" in problem.description, problem


@fuzz_settings(scale=3)
@given(
    data=st.one_of(body_around(b'{"email": @, "message": "hi"}'), st.binary(max_size=80)),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
)
def test_form_reading_never_raises(data: bytes, content_type: str) -> None:
    read_form(data, content_type)


@given(value=json_values(max_leaves=30), limit=st.integers(min_value=0, max_value=6))
@fuzz_settings()
def test_exactjson_depth_check_finds_exactly_the_containers_at_the_limit(
    value: Any, limit: int
) -> None:
    parsed = exactjson.loads(encode(value))

    def depth(item: Any) -> int:
        # -1 for a scalar: how deep the deepest array or object inside `item` sits.
        children = item.values() if isinstance(item, dict) else item
        if not isinstance(item, dict | list):
            return -1
        return 1 + max((depth(c) for c in children), default=-1)

    assert exactjson._deeper_than(parsed, limit) == (depth(parsed) >= limit)
