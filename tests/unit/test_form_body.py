"""The external form's body: what it accepts, what it refuses (naming why), and the record
it plans, keeping the fields the type does not have out of the record."""

from __future__ import annotations

import pytest

from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson
from inlet_matcher.form import FormBody, plan_form, read_form

F = entity_pb2.Field
PERSON = entity_pb2.EntityType(
    id="t1",
    slug="person",
    fields=[
        F(slug="first_name", type=entity_pb2.FIELD_TYPE_TEXT),
        F(slug="last_name", type=entity_pb2.FIELD_TYPE_TEXT),
        F(slug="email", type=entity_pb2.FIELD_TYPE_EMAIL, unique=True),
        F(slug="phone", type=entity_pb2.FIELD_TYPE_PHONE, unique=True),
        F(slug="age", type=entity_pb2.FIELD_TYPE_NUMBER),
        F(slug="consent", type=entity_pb2.FIELD_TYPE_BOOLEAN),
    ],
)
SCHEMA = store_pb2.StreamSchema(version="v1", entity_type=PERSON, default_region="NO")


@pytest.mark.parametrize(
    ("body", "content_type", "reason", "field"),
    [
        (b"", "application/json", "EMPTY_BODY", "body"),
        (b"{", "application/json", "MALFORMED_JSON", "body"),
        (b'"hi"', "application/json", "INVALID_BODY", "body"),
        (b"a=1", "text/plain", "UNSUPPORTED_MEDIA_TYPE", "Content-Type"),
        (b"%zz", "application/x-www-form-urlencoded", "INVALID_BODY", "body"),
    ],
)
def test_bodies_that_are_not_a_form_are_refused(
    body: bytes, content_type: str, reason: str, field: str
) -> None:
    read = read_form(body, content_type)
    assert read.reason == reason
    assert [p.field for p in read.problems] == [field]


def test_a_json_form_plans_known_fields_and_splits_the_name() -> None:
    form = read_form(
        b'{"name": "Ola Nordmann", "email": "OLA@acme.no", "phone": "99887766", "message": "hi"}',
        "application/json; charset=utf-8",
    )
    record, problems = plan_form(SCHEMA, form)
    assert problems == []
    assert record is not None
    assert exactjson.from_raw(record.values) == {
        "email": "ola@acme.no",
        "phone": "+4799887766",
        "first_name": "Ola",
        "last_name": "Nordmann",
    }
    assert list(record.unique_fields) == ["email", "phone"]


def test_url_encoded_values_take_their_fields_types() -> None:
    form = read_form(b"email=a%40b.no&age=42&consent=on", "application/x-www-form-urlencoded")
    record, problems = plan_form(SCHEMA, form)
    assert problems == []
    assert record is not None
    assert exactjson.from_raw(record.values) == {"email": "a@b.no", "age": 42, "consent": True}


def test_each_bad_field_is_named_as_the_form_names_it() -> None:
    record, problems = plan_form(SCHEMA, FormBody({"email": "", "phone": "none", "age": "x"}))
    assert record is None
    assert [(p.field, p.reason) for p in problems] == [
        ("email", "REQUIRED_FIELD_MISSING"),
        ("phone", "INVALID_PHONE"),
        ("age", "INVALID_TYPE"),
    ]
