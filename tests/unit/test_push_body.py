"""Reading an endpoint push's raw body: exact numbers, and every wrong shape named."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inlet_common import exactjson
from inlet_common.errors import InvalidArgument
from inlet_matcher.bodies import INVALID_BODY, MALFORMED_JSON, push_body


def test_numbers_keep_their_exact_text() -> None:
    body = push_body(b'{"fields": {"n": 9007199254740993, "d": 0.1, "e": 1e-7, "z": 1.50}}')

    assert body.fields["n"] == 9007199254740993
    assert isinstance(body.fields["n"], int)
    assert body.fields["d"] == Decimal("0.1")
    assert exactjson.dumps(body.fields) == b'{"n":9007199254740993,"d":0.1,"e":1e-7,"z":1.50}'


@pytest.mark.parametrize("data", [b"", b"  ", b"{}", b'{"fields": null}', b'{"related": null}'])
def test_absent_parts_are_empty(data: bytes) -> None:
    body = push_body(data)

    assert (body.fields, body.related) == ({}, {})


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (b'{"fields": "text"}', "fields", "must be a JSON object, got a string"),
        (b'{"fields": [1]}', "fields", "must be a JSON object, got an array"),
        (b'{"related": {"contact": 5}}', "related.contact", "got a number"),
        (b'{"related": []}', "related", "got an array"),
        (b'{"fieldz": {"a": 1}}', "fieldz", '"fieldz"'),
        (b'{"token": "t"}', "token", '"token"'),
    ],
)
def test_wrong_shapes_name_the_field(data: bytes, field: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        push_body(data)

    assert caught.value.reason == INVALID_BODY
    assert [v.field for v in caught.value.violations] == [field]
    assert fragment in caught.value.message


@pytest.mark.parametrize("data", [b"[1, 2]", b'"text"', b"3", b"null"])
def test_a_body_that_is_not_an_object_is_invalid(data: bytes) -> None:
    with pytest.raises(InvalidArgument) as caught:
        push_body(data)

    assert caught.value.reason == INVALID_BODY
    assert "JSON object" in caught.value.message


@pytest.mark.parametrize(
    "data", [b"{", b'{"fields": {}}x', b"\xff", b"{'a': 1}", b'{"a": NaN}', b'{"a": Infinity}']
)
def test_invalid_json_is_malformed(data: bytes) -> None:
    with pytest.raises(InvalidArgument) as caught:
        push_body(data)

    assert caught.value.reason == MALFORMED_JSON
    assert "not valid JSON" in caught.value.message
