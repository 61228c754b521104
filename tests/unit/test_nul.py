"""U+0000 is found wherever it hides: JSON keys and strings, message strings and map keys."""

from __future__ import annotations

import pytest

from inlet.admin.v1 import admin_pb2
from inlet.ingest.v1 import ingest_pb2
from inlet.type.v1 import entity_pb2, result_pb2
from inlet_common import nul
from inlet_common.errors import InvalidArgument, violations_of


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"fields": {"name": "a\x00b"}}, "fields.name"),
        ({"fields": {"na\x00me": "x"}}, "fields.na\\u0000me"),
        ([{"a": 1}, {"b": ["x", "y\x00"]}], "[1].b[1]"),
        ({"fields": {"name": "Ola", "n": 1, "ok": True, "none": None}}, None),
    ],
)
def test_json_paths_name_the_string_or_key(document: object, path: str | None) -> None:
    assert nul.in_json(document, "") == path


def test_json_paths_take_a_prefix() -> None:
    assert nul.in_json({"region": "\x00"}, "body") == "body.region"
    assert nul.in_json([{}, {"region": "\x00"}], "items") == "items[1].region"


def test_message_strings_repeated_fields_and_map_keys() -> None:
    field = entity_pb2.Field(slug="a", display_name="x\x00")
    request = admin_pb2.CreateEntityTypeRequest(
        parent="workspaces/w", entity_type=entity_pb2.EntityType(fields=[entity_pb2.Field(), field])
    )
    assert nul.in_message(request) == "entity_type.fields[1].display_name"

    related = ingest_pb2.PushEndpointResponse()
    related.related["con\x00tact"].CopyFrom(result_pb2.EntityResult(id="r"))
    assert nul.in_message(related) == "related.con\\u0000tact"

    assert nul.in_message(admin_pb2.CreateEntityTypeRequest(parent="workspaces/w")) is None


def test_the_refusal_names_the_field_and_never_carries_the_nul() -> None:
    request = admin_pb2.GetWorkspaceRequest(name="workspaces/\x00")

    with pytest.raises(InvalidArgument) as caught:
        nul.refuse_in_message(request)

    [violation] = violations_of(caught.value.to_status())
    assert violation.field == "name"
    assert violation.reason == nul.NUL_CHARACTER
    assert "\x00" not in caught.value.message
