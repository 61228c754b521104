"""Normalisation of field values by type."""

from __future__ import annotations

from typing import Any

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from inlet.type.v1 import entity_pb2
from inlet_common import exactjson
from inlet_common.exactjson import Number
from inlet_common.normalise import FieldProblem, key_text, normalise, normaliser
from tests.fuzzing import fuzz_settings

T = entity_pb2


def field(kind: int) -> entity_pb2.Field:
    return entity_pb2.Field(slug="f", type=kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "raw", "region", "expected"),
    [
        (T.FIELD_TYPE_TEXT, "  Ola  ", "", "Ola"),
        (T.FIELD_TYPE_TEXT, "Cafe\u0301", "", "Caf\u00e9"),  # NFC
        (T.FIELD_TYPE_TEXT, "   ", "", None),
        (T.FIELD_TYPE_EMAIL, " Ola@ACME.no ", "", "ola@acme.no"),
        (T.FIELD_TYPE_PHONE, "+47 998 87 766", "", "+4799887766"),
        (T.FIELD_TYPE_PHONE, "0047 99887766", "NO", "+4799887766"),
        (T.FIELD_TYPE_PHONE, "99887766", "NO", "+4799887766"),
        (T.FIELD_TYPE_PHONE, "998-87-766", "NO", "+4799887766"),
        (T.FIELD_TYPE_PHONE, 99887766, "NO", "+4799887766"),
        (T.FIELD_TYPE_NUMBER, 50000, "", 50000),
        (T.FIELD_TYPE_NUMBER, Number("1.50"), "", Number("1.50")),
        (T.FIELD_TYPE_NUMBER, 9007199254740993, "", 9007199254740993),
        # Never refused for a range a numbering plan does not list: E.164 when possible,
        # else the value without punctuation.
        (T.FIELD_TYPE_PHONE, "+47 49876543", "", "+4749876543"),
        (T.FIELD_TYPE_PHONE, "555-123-4567", "", "5551234567"),
        (T.FIELD_TYPE_PHONE, "412-34-567", "", "41234567"),
        (T.FIELD_TYPE_PHONE, "(555) 123.4567", "", "5551234567"),
        (T.FIELD_TYPE_PHONE, "555-123-4567", "US", "+15551234567"),
        (T.FIELD_TYPE_PHONE, "0047 998 87 766", "", "+4799887766"),
        (T.FIELD_TYPE_PHONE, "+1 650 253 0000 ext 12", "", "+16502530000;ext=12"),
        (T.FIELD_TYPE_PHONE, "99887766", "", "99887766"),
        (T.FIELD_TYPE_PHONE, "+47 12", "", "+4712"),
        (T.FIELD_TYPE_BOOLEAN, False, "", False),
        (T.FIELD_TYPE_DATETIME, "2026-04-06T10:30:00Z", "", "2026-04-06T10:30:00Z"),
        (T.FIELD_TYPE_DATETIME, "2026-04-06T12:30:00+02:00", "", "2026-04-06T10:30:00Z"),
        (T.FIELD_TYPE_DATETIME, "2026-04-06T10:30:00", "", "2026-04-06T10:30:00Z"),
        (
            T.FIELD_TYPE_REFERENCE,
            "6F9619FF-8B86-D011-B42D-00CF4FC964FF",
            "",
            "6f9619ff-8b86-d011-b42d-00cf4fc964ff",
        ),
        (T.FIELD_TYPE_EMAIL, None, "", None),
    ],
)
def test_normalises(kind: int, raw: Any, region: str, expected: Any) -> None:
    assert normalise(field(kind), raw, region) == expected


@pytest.mark.parametrize(
    ("kind", "raw", "region", "reason"),
    [
        (T.FIELD_TYPE_TEXT, 5, "", "INVALID_TYPE"),
        (T.FIELD_TYPE_EMAIL, "ola@", "", "INVALID_EMAIL"),
        (T.FIELD_TYPE_EMAIL, 7, "", "INVALID_TYPE"),
        (T.FIELD_TYPE_PHONE, "call me", "", "INVALID_PHONE"),  # no digits at all
        (T.FIELD_TYPE_PHONE, " - ", "NO", "INVALID_PHONE"),
        (
            T.FIELD_TYPE_NUMBER,
            1.5,
            "",
            "INVALID_TYPE",
        ),  # a float never reaches here: JSON decimals are Numbers
        (T.FIELD_TYPE_PHONE, "call me", "NO", "INVALID_PHONE"),
        (T.FIELD_TYPE_NUMBER, "5", "", "INVALID_TYPE"),
        (T.FIELD_TYPE_NUMBER, True, "", "INVALID_TYPE"),
        (T.FIELD_TYPE_BOOLEAN, "true", "", "INVALID_TYPE"),
        (T.FIELD_TYPE_DATETIME, "yesterday", "", "INVALID_DATETIME"),
        (T.FIELD_TYPE_REFERENCE, "abc", "", "INVALID_REFERENCE"),
    ],
)
def test_rejects(kind: int, raw: Any, region: str, reason: str) -> None:
    with pytest.raises(FieldProblem) as caught:
        normalise(field(kind), raw, region)
    assert caught.value.reason == reason
    assert caught.value.message


def test_integers_are_kept_exactly_and_fractions_refused() -> None:
    field = entity_pb2.Field(slug="n", type=T.FIELD_TYPE_INTEGER)
    assert normalise(field, 9007199254740993, "") == 9007199254740993
    assert str(normalise(field, Number("1e3"), "")) == "1e3"
    with pytest.raises(FieldProblem) as caught:
        normalise(field, Number("1.5"), "")
    assert caught.value.reason == "INVALID_TYPE"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("1000", "1000"),
        ("1000.0", "1000"),
        ("1e3", "1000"),
        ("0.10", "0.1"),
        ("1e-7", "0.0000001"),
        ("-0.0", "0"),
        ("123456789012345678901234567890.5", "123456789012345678901234567890.5"),
    ],
)
def test_a_numbers_key_is_its_value_not_its_text(text: str, key: str) -> None:
    assert key_text(exactjson.loads(text)) == key


def _library_email(text: str) -> tuple[str, str]:
    """What email-validator alone answers: ("ok", normalised) or ("refused", message)."""
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        return "refused (INVALID_EMAIL)", str(error)
    return "ok", str(checked.normalized).lower()


def _inlet_email(text: str) -> tuple[str, str]:
    try:
        return "ok", normalise(field(T.FIELD_TYPE_EMAIL), text, "")
    except FieldProblem as problem:
        return f"refused ({problem.reason})", problem.message


EMAIL_CASES = [
    "ola@acme.no",
    "Ola.Nordmann+tag@ACME.NO",
    "postmaster@Example.COM",
    "a@xn--bcher-kva.example",
    "a@bücher.example",
    "a@b.test",
    "a@localhost",
    "a@b",
    "a@b.123",
    "a@-b.com",
    "a@b-.com",
    "a@b..com",
    "a@.b.com",
    "a@b.com.",
    "a@",
    "@b.com",
    "a@b@c.com",
    "a..b@c.com",
    ".a@c.com",
    "a.@c.com",
    'a"b@c.com',
    '"a b"@c.com',
    "A <a@c.com>",
    "a<b@c.com",
    "a@[1.2.3.4]",
    "a b@c.com",
    "ålesund@c.com",
    "a@c\u0301.com",
    "a@\u0301c.com",
    "a@ab--cd.com",
    "a@xn--a.com",
    "a@" + "b" * 64 + ".com",
    "a@" + ".".join(["b" * 60] * 5) + ".com",
    "x" * 64 + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".com",
    "x" * 200 + "@c.com",
    "x" * 250 + "@c.com",
    "x" * 10 + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + "." + "e" * 55 + ".com",
    "x" * 70 + "@xn--bcher-kva." + "c" * 60 + "." + "d" * 60 + "." + "e" * 30 + ".com",
]


@pytest.mark.parametrize("text", EMAIL_CASES)
def test_email_answers_exactly_as_email_validator(text: str) -> None:
    # The common address takes a quicker way; the answer (and the refusal's words) must be
    # email-validator's own, also for addresses near every limit.
    assert _inlet_email(text) == _library_email(text)


_ADDRESS_PARTS = st.sampled_from(
    [
        "a",
        "Z",
        "0",
        ".",
        "-",
        "+",
        "_",
        "@",
        "<",
        ">",
        '"',
        " ",
        "é",
        "\u0301",
        "xn--",
        "com",
        "test",
        "[",
        "]",
        "b" * 63,
        "c" * 70,
        "..",
        "ß",
        "\u200b",
        "local",
        "example",
    ]
)


@given(parts=st.lists(_ADDRESS_PARTS, max_size=12))
@fuzz_settings()
def test_any_email_answers_exactly_as_email_validator(parts: list[str]) -> None:
    text = "".join(parts).strip()
    assert _inlet_email(text) == _library_email(text)


def _outcome(check: Any) -> Any:
    try:
        return check()
    except FieldProblem as problem:
        return (problem.reason, problem.message)


@pytest.mark.parametrize("kind", [*entity_pb2.FieldType.values()])
@pytest.mark.parametrize(
    "raw",
    [
        "  Ola ",
        "ola@acme.no",
        "+47 912 34 567",
        "912 34 567",
        12,
        Number("1.50"),
        True,
        "x",
        "2026-04-06T10:30:00Z",
        "6d6f3c5e-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
        [1],
        {"a": 1},
    ],
)
def test_a_fields_normaliser_answers_as_normalise(kind: int, raw: Any) -> None:
    f = field(kind)
    assert _outcome(lambda: normaliser(f)(raw, "NO")) == _outcome(lambda: normalise(f, raw, "NO"))
