"""update_paths: what an Update RPC's mask means, for every updatable resource alike."""

from __future__ import annotations

import pytest
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import admin_pb2
from inlet.notifier.v1 import webhooks_pb2
from inlet.type.v1 import entity_pb2
from inlet_common.errors import InvalidArgument
from inlet_common.masks import update_paths

UPDATABLE = ("url", "description", "event_types", "entity_type_ids", "source_ids", "enabled")
IGNORED = ("name", "disabled_reason", "create_time", "update_time")


def paths(mask: list[str], endpoint: webhooks_pb2.WebhookEndpoint) -> frozenset[str]:
    return update_paths(
        field_mask_pb2.FieldMask(paths=mask), endpoint, updatable=UPDATABLE, ignored=IGNORED
    )


def test_named_paths_are_the_change_in_any_spelling() -> None:
    got = paths(["url", "eventTypes", "description,enabled"], webhooks_pb2.WebhookEndpoint())

    assert got == {"url", "event_types", "description", "enabled"}


def test_an_empty_mask_is_the_fields_set_never_everything() -> None:
    endpoint = webhooks_pb2.WebhookEndpoint(
        name="workspaces/w/webhookEndpoints/e", url="https://example.com/h", enabled=False
    )

    # enabled=false is the default: unset, so not changed; name identifies, so ignored.
    assert paths([], endpoint) == {"url"}


def test_the_wildcard_is_every_updatable_field() -> None:
    assert paths(["*"], webhooks_pb2.WebhookEndpoint()) == set(UPDATABLE)


def test_output_only_paths_are_ignored() -> None:
    got = paths(["name", "create_time", "url"], webhooks_pb2.WebhookEndpoint())

    assert got == {"url"}


@pytest.mark.parametrize(
    ("mask", "code"),
    [
        (["colour"], "UNKNOWN_FIELD"),
        (["url.host"], "UNKNOWN_FIELD"),
        (["*", "url"], "INVALID_PATH"),
        ([], "EMPTY"),
        (["name"], "EMPTY"),
    ],
)
def test_a_bad_mask_is_refused_naming_update_mask_and_the_path(mask: list[str], code: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        paths(mask, webhooks_pb2.WebhookEndpoint())

    [violation] = caught.value.violations
    assert violation.field == "update_mask"
    assert violation.reason == code
    for path in mask:
        if code != "EMPTY" and path != "url":
            assert f'"{path}"' in caught.value.message
            assert f'"{path}"' in violation.description


def test_a_field_that_cannot_change_is_refused_by_name() -> None:
    with pytest.raises(InvalidArgument) as caught:
        update_paths(
            field_mask_pb2.FieldMask(paths=["entity_type", "enabled"]),
            admin_pb2.IngestEndpoint(),
            updatable=("display_name", "enabled"),
        )

    [violation] = caught.value.violations
    assert (violation.field, violation.reason) == ("update_mask", "IMMUTABLE_FIELD")
    assert "IngestEndpoint.entity_type cannot be changed" in violation.description


def test_a_wrapped_resource_takes_paths_with_or_without_its_prefix() -> None:
    got = update_paths(
        field_mask_pb2.FieldMask(paths=["field.unique", "required", "name", "field.slug"]),
        entity_pb2.Field(),
        updatable=("display_name", "unique", "required"),
        ignored=("name", "slug"),
        prefix="field.",
    )

    assert got == {"unique", "required"}
