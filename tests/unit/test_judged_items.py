"""Items normalised at accept, reused by planning only while they still hold."""

from __future__ import annotations

from typing import Any

from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson
from inlet_matcher.judged import Judged, JudgedItems
from inlet_matcher.stream import check_items
from inlet_matcher.stream_plan import plan_items, plan_judged_into
from tests.stream_support import SALES

ITEMS: list[Any] = [
    {"region": " North ", "revenue": exactjson.Number("1.50")},
    {"region": "South", "revenue": exactjson.loads("12345678901234567890123")},
    {"region": "West", "revenue": None},
]


def schema(entity_type: entity_pb2.EntityType = SALES, region: str = "NO") -> Any:
    found = store_pb2.StreamSchema(version="v1", entity_type=entity_type, default_region=region)
    found.entity_type.id = "t1"
    return found


def judged(items: list[Any], item_key: str = "") -> Judged:
    normalised: list[dict[str, Any]] = []
    assert check_items(schema(), items, False, item_key, normalised) == []
    return Judged(schema(), item_key, False, normalised)


def claimed(items: list[Any], item_key: str = "", **changes: Any) -> Any:
    fields = {"request_id": "req_1", "entity_type": schema().entity_type, "default_region": "NO"}
    found = store_pb2.ClaimedStreamRequest(**{**fields, "item_key": item_key, **changes})
    found.items.CopyFrom(exactjson.to_raw(items))
    return found


def test_a_claim_under_the_same_schema_is_planned_as_from_its_stored_items() -> None:
    kept = JudgedItems()
    for key in ("", "region"):
        assert kept.put("req_1", judged(ITEMS, key))
        normalised = kept.take(claimed(ITEMS, key))
        assert normalised is not None
        assert plan_items(claimed(ITEMS, key), normalised) == plan_items(claimed(ITEMS, key))
    assert kept.taken == 2
    assert (len(kept), kept.items) == (0, 0)


def test_a_claim_under_another_schema_is_planned_afresh() -> None:
    changed = store_pb2.ClaimedStreamRequest()
    changed.entity_type.CopyFrom(schema().entity_type)
    changed.entity_type.fields[0].required = True
    cases = [
        claimed(ITEMS, "region"),  # another X-Item-Key
        claimed(ITEMS, default_region="SE"),
        claimed(ITEMS, entity_type=changed.entity_type),
        claimed(ITEMS, reference_type_ids={"owner": "t2"}),
        claimed(ITEMS, single=True),
    ]
    kept = JudgedItems()
    for case in cases:
        assert kept.put("req_1", judged(ITEMS))
        assert kept.take(case) is None
        assert len(kept) == 0
    assert kept.taken == 0


def test_an_id_sent_twice_keeps_neither() -> None:
    kept = JudgedItems()
    first = judged(ITEMS)
    assert kept.put("req_1", first)
    assert not kept.put("req_1", judged(ITEMS[:1]))
    assert kept.take(claimed(ITEMS)) is None
    # Replacing its own entry (the schema moved on while it was accepted) is allowed.
    assert kept.put("req_1", first)
    again = judged(ITEMS)
    assert kept.put("req_1", again, replacing=first)
    kept.discard("req_1", first)  # not the one kept: nothing happens
    assert kept.take(claimed(ITEMS)) == again.normalised


def test_the_oldest_requests_go_first_when_full() -> None:
    kept = JudgedItems(max_items=5)
    for n in range(4):
        assert kept.put(f"req_{n}", judged(ITEMS[:2]))
    assert len(kept) == 2
    assert kept.items == 4
    assert kept.take(claimed(ITEMS[:2], request_id="req_0")) is None
    assert kept.take(claimed(ITEMS[:2], request_id="req_3")) is not None
    assert not kept.put("req_9", judged(ITEMS * 2))  # larger than the whole budget


async def test_judged_items_planned_in_place_are_the_items_planned_afresh() -> None:
    items: list[Any] = [{"region": f"r{n % 3}", "revenue": n} for n in range(7)]
    for key, done in (("", ()), ("region", ()), ("region", (0, 5)), ("", (6,))):
        request = claimed(items, key, done_indices=list(done))
        entry = store_pb2.ApplyStreamItemsRequest()
        await plan_judged_into(request, judged(items, key).normalised, entry.items)
        assert list(entry.items) == plan_items(request)
