"""Planning a push: keys, required fields, references, and every problem at once."""

from __future__ import annotations

import pytest

from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common.exactjson import from_raw as to_dict
from inlet_matcher.errors import ValidationFailed
from inlet_matcher.planner import plan_push
from inlet_matcher.push.schema_cache import PushSchemaCache

T = entity_pb2
CONTACT = entity_pb2.EntityType(
    id="t-contact",
    slug="contact",
    fields=[
        entity_pb2.Field(slug="name", type=T.FIELD_TYPE_TEXT, required=True),
        entity_pb2.Field(slug="email", type=T.FIELD_TYPE_EMAIL, unique=True),
        entity_pb2.Field(slug="phone", type=T.FIELD_TYPE_PHONE, unique=True),
    ],
)
DEAL = entity_pb2.EntityType(
    id="t-deal",
    slug="deal",
    fields=[
        entity_pb2.Field(slug="title", type=T.FIELD_TYPE_TEXT, required=True),
        entity_pb2.Field(slug="value", type=T.FIELD_TYPE_NUMBER),
        entity_pb2.Field(
            slug="contact",
            type=T.FIELD_TYPE_REFERENCE,
            reference_entity_type="contact",
            required=True,
        ),
    ],
)
ENDPOINT = store_pb2.PushSchema(
    workspace_id="w",
    endpoint_id="e",
    default_region="NO",
    entity_type=DEAL,
    referenced_types={"contact": CONTACT},
)


def test_plan_normalises_and_chooses_keys() -> None:
    plan = plan_push(
        ENDPOINT,
        {"title": " Renewal ", "value": 50000},
        {"contact": {"name": "Ola", "email": "OLA@acme.no", "phone": "99887766"}},
    )
    assert to_dict(plan.record.values) == {"title": "Renewal", "value": 50000}
    assert list(plan.record.unique_fields) == []
    assert list(plan.record.missing_required) == []  # contact comes from related
    contact = plan.related["contact"]
    assert to_dict(contact.values) == {
        "name": "Ola",
        "email": "ola@acme.no",
        "phone": "+4799887766",
    }
    assert list(contact.unique_fields) == ["email", "phone"]
    assert contact.entity_type_id == "t-contact"


def test_missing_required_is_left_for_the_store_to_judge_on_create() -> None:
    plan = plan_push(ENDPOINT, {"value": 1}, {})
    assert list(plan.record.missing_required) == ["title", "contact"]


def test_reference_by_id_is_planned_with_its_type() -> None:
    rid = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
    plan = plan_push(ENDPOINT, {"title": "x", "contact": rid}, {})
    assert dict(plan.record.references) == {"contact": "t-contact"}


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        plan_push(
            ENDPOINT,
            {"title": None, "valu": 1, "contact": "x"},
            {"company": {}, "contact": {"email": "bad", "nick": "n"}},
        )
    found = {(v.field, v.reason) for v in caught.value.violations}
    assert found == {
        ("fields.title", "REQUIRED_FIELD_MISSING"),
        ("fields.valu", "UNKNOWN_FIELD"),
        ("fields.contact", "INVALID_REFERENCE"),
        ("related.company", "UNKNOWN_RELATED"),
        ("related.contact", "CONFLICTING_REFERENCE"),
        ("related.contact.email", "INVALID_EMAIL"),
        ("related.contact.nick", "UNKNOWN_FIELD"),
    }
    assert caught.value.reason == "VALIDATION_FAILED"


def test_a_schema_kept_in_the_cache_plans_as_one_read_afresh() -> None:
    cache = PushSchemaCache()
    kept = cache.put(b"token", ENDPOINT)
    assert cache.get(b"token") is kept
    push = (
        {"title": " Renewal ", "value": 50000},
        {"contact": {"name": "Ola", "email": "OLA@acme.no", "phone": "99887766"}},
    )
    with_shape = plan_push(kept.schema, *push, shape=kept.shape)
    afresh = plan_push(ENDPOINT, *push)
    assert with_shape.record == afresh.record
    assert with_shape.related == afresh.related
    # Its problems too: an unknown related type, named with the type's reference fields.
    with pytest.raises(ValidationFailed) as caught:
        plan_push(kept.schema, {"title": "x"}, {"owner": {"name": "Ola"}}, shape=kept.shape)
    assert [v.field for v in caught.value.violations] == ["related.owner"]
    assert "reference fields: contact" in caught.value.violations[0].description
