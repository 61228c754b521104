"""ChunkPlan: the item-by-item upsert decisions replayed in memory for a whole chunk."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest

from inlet_store.chunks import ChunkPlan, RandomIds, record_event
from inlet_store.domain import Outcome, PlannedRecord
from inlet_store.errors import MissingRequired, UniqueConflictError
from inlet_store.inbox.types import ItemOutcome

TYPE = "type-1"


def planned(
    unique: tuple[str, ...] = ("email", "phone"), required: tuple[str, ...] = (), **values: Any
) -> PlannedRecord:
    return PlannedRecord(
        entity_type_id=TYPE,
        values=values,
        unique_fields=tuple(s for s in unique if values.get(s) is not None),
        missing_required=tuple(s for s in required if s not in values),
    )


def plan_over(keys: dict[tuple[str, str], str]) -> ChunkPlan:
    ids = (f"new-{n}" for n in itertools.count(1))
    return ChunkPlan(keys, new_id=lambda: next(ids))


def test_a_duplicate_within_the_chunk_updates_the_record_the_first_created() -> None:
    plan = plan_over({})
    first = plan.upsert(planned(email="a@x.no", name="One"), "items[0]")
    second = plan.upsert(planned(email="a@x.no", name="Two", note=None), "items[1]")
    assert first == Outcome("new-1", "created")
    assert second == Outcome("new-1", "updated", matched_on=("email",))
    # One insert, carrying the later item's values (a null too, as `data || values` keeps it).
    assert {r: (w.created, w.data) for r, w in plan.writes.items()} == {
        "new-1": (True, {"email": "a@x.no", "name": "Two", "note": None})
    }
    assert plan.added == {("email", "a@x.no"): "new-1"}
    assert plan.deleted == {("new-1", "note")}  # as delete_keys would run (a no-op)


def test_a_conflicting_item_changes_nothing_and_the_others_go_on() -> None:
    plan = plan_over({("email", "a@x.no"): "r1", ("phone", "+4711"): "r2"})
    assert plan.upsert(planned(email="b@x.no"), "items[0]").action == "created"
    with pytest.raises(UniqueConflictError) as caught:
        plan.upsert(planned(email="a@x.no", phone="+4711", name="X"), "items[1]")
    assert "items[1]" in caught.value.message
    assert plan.upsert(planned(email="a@x.no", name="Y"), "items[2]") == Outcome(
        "r1", "updated", matched_on=("email",)
    )
    assert {r: w.data for r, w in plan.writes.items()} == {
        "new-1": {"email": "b@x.no"},
        "r1": {"email": "a@x.no", "name": "Y"},
    }
    assert plan.added == {("email", "b@x.no"): "new-1"}


def test_a_moved_key_frees_its_old_value_for_a_later_item() -> None:
    # Keyed by region (X-Item-Key), the record's e-mail changes; the old e-mail is then free.
    plan = plan_over({("region", "north"): "r1", ("email", "old@x.no"): "r1"})
    moved = plan.upsert(planned(("region", "email"), region="north", email="new@x.no"), "items[0]")
    assert moved == Outcome("r1", "updated", matched_on=("region",))
    taken = plan.upsert(planned(("region", "email"), region="south", email="old@x.no"), "items[1]")
    assert taken == Outcome("new-1", "created")
    assert plan.deleted == {("r1", "email")}
    assert plan.added == {
        ("email", "new@x.no"): "r1",
        ("region", "south"): "new-1",
        ("email", "old@x.no"): "new-1",
    }


def test_a_key_added_then_moved_within_the_chunk_is_never_inserted() -> None:
    plan = plan_over({("region", "north"): "r1"})
    plan.upsert(planned(("region", "email"), region="north", email="a@x.no"), "items[0]")
    plan.upsert(planned(("region", "email"), region="north", email="b@x.no"), "items[1]")
    assert plan.added == {("email", "b@x.no"): "r1"}
    assert plan.deleted == {("r1", "email")}
    assert plan.keys == {("region", "north"): "r1", ("email", "b@x.no"): "r1"}


def test_a_cleared_field_drops_its_key() -> None:
    plan = plan_over({("email", "a@x.no"): "r1"})
    outcome = plan.upsert(planned(("email",), email="a@x.no", phone=None), "items[0]")
    assert outcome.action == "updated"
    assert plan.deleted == {("r1", "phone")}


def test_create_without_required_fields_is_refused() -> None:
    plan = plan_over({})
    with pytest.raises(MissingRequired) as caught:
        plan.upsert(planned(required=("name",), email="a@x.no"), "items[3]")
    assert [v.field for v in caught.value.violations] == ["items[3].name"]
    assert plan.writes == {}
    assert plan.added == {}


def test_record_event_matches_the_outbox_row() -> None:
    record = planned(email="a@x.no", name=None)
    source = {"type": "stream", "request_id": "req_1"}
    event = record_event(record, Outcome("r1", "updated", ("email",)), source)
    assert event == {
        "type": "record.updated",
        "data": {
            "request_id": "req_1",
            "id": "r1",
            "entity_type_id": TYPE,
            "fields": {"email": "a@x.no"},
            "matched_on": ["email"],
            "source": source,
        },
    }


def test_new_record_ids_are_random_uuids_as_uuid4_writes_them() -> None:
    new_id = RandomIds()
    made = {new_id() for _ in range(2000)}
    assert len(made) == 2000
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_an_outcome_row_carries_only_what_the_item_has() -> None:
    # The write statements read a missing key as NULL (matched_on as empty).
    assert ItemOutcome(0, "created", "r-1").row() == {
        "item_index": 0,
        "action": "created",
        "record_id": "r-1",
    }
    assert ItemOutcome(1, "superseded", superseded_by=3).row() == {
        "item_index": 1,
        "action": "superseded",
        "superseded_by": 3,
    }
    error = {"code": "UNIQUE_CONFLICT", "message": "m", "fields": []}
    assert ItemOutcome(
        2,
        "updated",
        "r-2",
        matched_on=("email",),
        error=error,
        related={"company": Outcome("r-3", "created")},
    ).row() == {
        "item_index": 2,
        "action": "updated",
        "record_id": "r-2",
        "matched_on": ["email"],
        "error": error,
        "related": {"company": {"id": "r-3", "action": "created"}},
    }
