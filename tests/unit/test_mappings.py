"""The mapping language of integrations, the vendors' flat documents and a body read by
each integration type (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from inlet_common import exactjson, mapping_checks, mappings, vendors
from inlet_common.errors import InvalidArgument
from inlet_common.integration_bodies import count_items, map_body
from inlet_common.jsonpointer import MISSING, parse_pointer, resolve
from inlet_common.mapping_checks import parse
from inlet_common.mapping_values import value_of
from inlet_common.mappings import Rule, split_name
from inlet_common.normalise import FieldProblem
from tests.external_support import CALENDLY_EXAMPLE, TYPEFORM_EXAMPLE


def fields_of(error: InvalidArgument) -> list[tuple[str, str]]:
    return [(v.field, v.reason) for v in error.violations]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ([], [("mapping", "INVALID_TYPE")]),
        ({"fields": {}}, [("mapping.fields", "EMPTY")]),
        ({"fields": {"a": "/x"}, "extra": 1}, [("mapping.extra", "UNKNOWN_FIELD")]),
        ({"items": "orders", "fields": {"a": "/x"}}, [("mapping.items", "INVALID_POINTER")]),
        ({"fields": {"a": 3}}, [("mapping.fields.a", "INVALID_TYPE")]),
        ({"fields": {"a": {"pointer": "/x", "constant": 1}}}, [("mapping.fields.a", "INVALID")]),
        ({"fields": {"a": {"pointer": "/x~2"}}}, [("mapping.fields.a.pointer", "INVALID_POINTER")]),
        (
            {"fields": {"a": {"pointer": "/x", "transforms": ["shout"]}}},
            [("mapping.fields.a.transforms[0]", "UNKNOWN_TRANSFORM")],
        ),
        (
            {"fields": {"a": {"pointer": "/x", "transforms": [{"date": "dd.mm"}]}}},
            [("mapping.fields.a.transforms[0]", "INVALID_TRANSFORM")],
        ),
        (
            {"fields": {"a": {"pointer": "/x", "transforms": [{"phone": "Norway"}]}}},
            [("mapping.fields.a.transforms[0]", "INVALID_TRANSFORM")],
        ),
        (
            {"fields": {"a": {"pointer": "/x", "colour": "red"}}},
            [("mapping.fields.a.colour", "UNKNOWN_FIELD")],
        ),
        ({"related": {"c": {"email": "/e"}}}, [("mapping.related.c", "INVALID_TYPE")]),
    ],
)
def test_a_bad_mapping_names_each_bad_part(spec: Any, expected: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse(spec)
    assert fields_of(raised.value) == expected


def test_a_mapping_is_checked_against_the_entity_type() -> None:
    spec = parse(
        {
            "fields": {"email": "/e", "colour": "/c", "customer": "/id"},
            "related": {
                "customer": {"fields": {"email": "/e", "company": "/x", "shoe": "/s"}},
                "email": {"fields": {"a": "/a"}},
            },
        }
    )
    problems = mapping_checks.check(
        spec,
        {"email": "email", "customer": "reference"},
        {"customer": {"email": "email", "company": "reference"}},
    )
    assert [(p.field, p.reason) for p in problems] == [
        ("mapping.fields.colour", "UNKNOWN_FIELD"),
        ("mapping.related.customer", "CONFLICTING_REFERENCE"),
        ("mapping.related.customer.fields.company", "NESTED_REFERENCE_UNSUPPORTED"),
        ("mapping.related.customer.fields.shoe", "UNKNOWN_FIELD"),
        ("mapping.related.email", "UNKNOWN_RELATED"),
    ]


def test_pointers_follow_rfc_6901() -> None:
    document = {"a/b": {"m~n": [10, 20]}, "": 1}
    assert parse_pointer("") == ()
    assert resolve(document, parse_pointer("/a~1b/m~0n/1")) == 20
    assert resolve(document, parse_pointer("/")) == 1
    assert resolve(document, parse_pointer("/a~1b/m~0n/2")) is MISSING
    assert resolve(document, parse_pointer("/a~1b/m~0n/01")) is MISSING
    assert resolve(document, parse_pointer("/x/y")) is MISSING
    with pytest.raises(ValueError, match="start with"):
        parse_pointer("a")


def rule(raw: Any) -> Rule:
    return parse({"fields": {"x": raw}}).fields["x"]


@pytest.mark.parametrize(
    ("raw", "item", "expected"),
    [
        ("/name", {"name": "Ola"}, "Ola"),
        ("/name", {}, MISSING),
        ({"pointer": "/name", "default": "n/a"}, {"name": None}, "n/a"),
        ({"pointer": "/name", "default": "n/a"}, {"name": "  "}, "n/a"),
        ({"pointer": "/name", "transforms": ["trim", "upper"]}, {"name": " ola "}, "OLA"),
        (
            {"pointer": "/name", "transforms": ["first_name"]},
            {"name": "Mary Ann Smith"},
            "Mary Ann",
        ),
        ({"pointer": "/name", "transforms": ["last_name"]}, {"name": "Nordmann, Ola"}, "Nordmann"),
        ({"pointer": "/name", "transforms": ["last_name"]}, {"name": "Cher"}, MISSING),
        ({"pointer": "/n", "transforms": ["string"]}, {"n": 1001}, "1001"),
        (
            {"pointer": "/d", "transforms": [{"date": "%d/%m/%Y"}]},
            {"d": "15/10/2005"},
            "2005-10-15T00:00:00",
        ),
        ({"pointer": "/p", "transforms": [{"phone": "NO"}]}, {"p": "912 34 567"}, "+4791234567"),
        ({"constant": "web"}, {}, "web"),
    ],
)
def test_a_rule_reads_and_transforms_one_value(raw: Any, item: Any, expected: Any) -> None:
    assert value_of(rule(raw), item, {}) == expected


def test_a_root_pointer_reads_the_whole_body() -> None:
    assert (
        value_of(rule({"root_pointer": "/shop/country"}), {}, {"shop": {"country": "NO"}}) == "NO"
    )


def test_numbers_keep_their_text() -> None:
    document = exactjson.loads(b'{"total": 499.90, "n": 9007199254740993}')
    assert str(value_of(rule("/total"), document, document)) == "499.90"
    assert value_of(rule({"pointer": "/n", "transforms": ["string"]}), document, document) == (
        "9007199254740993"
    )


@pytest.mark.parametrize(
    ("raw", "item", "reason"),
    [
        ({"pointer": "/n", "transforms": ["trim"]}, {"n": 3}, "INVALID_TYPE"),
        ({"pointer": "/d", "transforms": [{"date": "%Y"}]}, {"d": "soon"}, "INVALID_DATETIME"),
        ({"pointer": "/p", "transforms": [{"phone": "NO"}]}, {"p": "none"}, "INVALID_PHONE"),
        ({"pointer": "/o", "transforms": ["string"]}, {"o": {}}, "INVALID_TYPE"),
    ],
)
def test_a_transform_that_cannot_take_a_value_says_why(raw: Any, item: Any, reason: str) -> None:
    with pytest.raises(FieldProblem) as raised:
        value_of(rule(raw), item, {})
    assert raised.value.reason == reason


@pytest.mark.parametrize(
    ("full", "parts"),
    [
        ("Ola Nordmann", ("Ola", "Nordmann")),
        ("  Ola   Nordmann ", ("Ola", "Nordmann")),
        ("Mary Ann Smith", ("Mary Ann", "Smith")),
        ("Nordmann, Ola", ("Ola", "Nordmann")),
        ("Cher", ("Cher", None)),
        ("", (None, None)),
    ],
)
def test_split_name(full: str, parts: tuple[str | None, str | None]) -> None:
    assert split_name(full) == parts


def test_generic_bodies() -> None:
    mapped = map_body("GENERIC", None, [{"email": "a@b.no"}, "x"])
    assert [i.values for i in mapped.items] == [{"email": "a@b.no"}, {}]
    assert [p.field for p in mapped.items[1].problems] == ["items[1]"]
    assert map_body("GENERIC", None, "text").problems[0].field == "body"
    assert count_items("GENERIC", None, [{}, {}, {}]) == 3
    assert count_items("GENERIC", None, {"a": 1}) == 1
    assert count_items("GENERIC", None, 7) == 1


def test_mapping_bodies_with_items_and_related() -> None:
    spec = {
        "items": "/orders",
        "fields": {"number": "/id", "shop": {"root_pointer": "/shop"}},
        "related": {"customer": {"fields": {"email": "/c/email"}}},
    }
    body = {"shop": "oslo", "orders": [{"id": "1", "c": {"email": "a@b.no"}}, {"id": "2"}]}
    mapped = map_body("MAPPING", spec, body)
    assert [(i.values, i.related) for i in mapped.items] == [
        ({"number": "1", "shop": "oslo"}, {"customer": {"email": "a@b.no"}}),
        ({"number": "2", "shop": "oslo"}, {}),
    ]
    assert count_items("MAPPING", spec, body) == 2
    missing = map_body("MAPPING", spec, {"orders": {}})
    assert [(p.field, p.reason) for p in missing.problems] == [("body", "NO_ITEMS")]


def test_typeform_example_is_read_by_field_ref_and_type() -> None:
    flat, problems = vendors.document("TYPEFORM", TYPEFORM_EXAMPLE)
    assert problems == []
    assert flat["email"] == "laura@example.com"
    assert flat["name"] == "Laura"
    assert flat["answers"]["readable_ref_picture_choice"] == ["London", "Sydney"]
    assert flat["answers"]["readable_ref_multiple_choice"] == "London"
    assert flat["answers"]["readable_ref_number1"] == 5
    assert flat["hidden"] == {"user_id": "abc123456"}
    assert flat["variables"] == {"score": 4, "name": "typeform"}
    mapped = map_body("TYPEFORM", None, TYPEFORM_EXAMPLE, known={"": ["email", "name"]})
    assert [i.values for i in mapped.items] == [{"email": "laura@example.com", "name": "Laura"}]


def test_calendly_example_is_the_invitee() -> None:
    mapped = map_body(
        "CALENDLY",
        None,
        CALENDLY_EXAMPLE,
        known={"": ["email", "first_name", "last_name", "phone"]},
    )
    assert [i.values for i in mapped.items] == [
        {"email": "test@example.com", "first_name": "John", "last_name": "Doe"}
    ]


@pytest.mark.parametrize(
    ("type_", "body", "field"),
    [
        ("TYPEFORM", {**TYPEFORM_EXAMPLE, "event_type": "ping"}, "event_type"),
        ("TYPEFORM", {"event_type": "form_response", "form_response": []}, "form_response"),
        ("TYPEFORM", [1], "body"),
        ("CALENDLY", {**CALENDLY_EXAMPLE, "event": "routing_form_submission.created"}, "event"),
        ("CALENDLY", {"event": "invitee.created"}, "payload"),
    ],
)
def test_a_body_that_is_not_the_vendors_webhook_is_named(type_: str, body: Any, field: str) -> None:
    mapped = map_body(type_, None, body)
    assert [p.field for p in mapped.problems] == [field]
    assert count_items(type_, None, body) == 1


def test_unsupported_types_are_refused_in_the_seeds_words() -> None:
    with pytest.raises(mappings.TypeNotSupported) as raised:
        mappings.check_type("OTHER")
    assert raised.value.message == "Integration type 'OTHER' is not supported"
    assert raised.value.reason == "INTEGRATION_TYPE_NOT_SUPPORTED"
    assert raised.value.violations == ()
