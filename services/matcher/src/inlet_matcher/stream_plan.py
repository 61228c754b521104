"""Planning a claimed inbox request: each item a planned record, an error, or superseded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar, cast

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from inlet.store.v1 import store_pb2
from inlet_common import exactjson
from inlet_common.errors import Violation
from inlet_common.normalise import key_text
from inlet_matcher.integration_items import plan_integration
from inlet_matcher.planner import EntityShape, fill_record
from inlet_matcher.stream import judge_item

# Items planned between two looks at the event loop: a thousand take several milliseconds,
# which the accepts (and applies) waiting on the same loop would otherwise wait out.
SLICE = 200


def plan_items(
    claimed: store_pb2.ClaimedStreamRequest, judged: list[dict[str, Any]] | None = None
) -> list[store_pb2.StreamItem]:
    """Every not-yet-done item as a planned record, an error, or superseded by a later one;
    an integration's request is read from its body by the integration's type and mapping.
    `judged`: the items as the accept normalised them (see JudgedItems), when they hold."""
    return _run(_planning(claimed, judged))


async def plan_items_sliced(
    claimed: store_pb2.ClaimedStreamRequest, judged: list[dict[str, Any]] | None = None
) -> list[store_pb2.StreamItem]:
    """plan_items, letting the event loop run between slices of SLICE items."""
    return await _run_sliced(_planning(claimed, judged))


async def plan_judged_into(
    claimed: store_pb2.ClaimedStreamRequest,
    judged: list[dict[str, Any]],
    into: RepeatedCompositeFieldContainer[store_pb2.StreamItem],
) -> None:
    """plan_items_sliced for judged items, each planned in place as a new item of `into`
    (a repeated field of the call that applies them): no copy of it is made."""

    def add(index: int) -> store_pb2.StreamItem:
        return into.add(index=index)

    await _run_sliced(_judged(claimed, judged, add))


_T = TypeVar("_T")


def _run(steps: Generator[None, None, _T]) -> _T:
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(_T, done.value)


async def _run_sliced(steps: Generator[None, None, _T]) -> _T:
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(_T, done.value)
        await asyncio.sleep(0)


def _planning(
    claimed: store_pb2.ClaimedStreamRequest, judged: list[dict[str, Any]] | None
) -> Generator[None, None, list[store_pb2.StreamItem]]:
    """plan_items' work, pausing (a bare yield) after every SLICE items."""
    if claimed.source == "integration":
        return plan_integration(claimed)
    if judged is not None:
        found: list[store_pb2.StreamItem] = []

        def add(index: int) -> store_pb2.StreamItem:
            item = store_pb2.StreamItem(index=index)
            found.append(item)
            return item

        yield from _judged(claimed, judged, add)
        return found
    planned: dict[int, store_pb2.StreamItem] = {}
    key_of: dict[int, str] = {}
    shape = EntityShape.of(claimed.entity_type)
    refs = dict(claimed.reference_type_ids)
    items = exactjson.from_raw(claimed.items, [])
    assert isinstance(items, list)
    for index, values in enumerate(items):
        item, normalised = _plan_one(claimed, index, values, shape, refs)
        planned[index] = item
        if claimed.item_key and item.HasField("record"):
            key_of[index] = key_text(normalised.get(claimed.item_key))
        if index % SLICE == SLICE - 1:
            yield
    # Within one batch the last item with a given X-Item-Key value wins.
    last: dict[str, int] = {}
    for index, key in key_of.items():
        last[key] = index
    for index, key in key_of.items():
        if last[key] != index:
            planned[index] = store_pb2.StreamItem(index=index, superseded_by=last[key])
    done = set(claimed.done_indices)
    return [planned[i] for i in sorted(planned) if i not in done]


def _judged(
    claimed: store_pb2.ClaimedStreamRequest,
    judged: list[dict[str, Any]],
    add: Callable[[int], store_pb2.StreamItem],
) -> Generator[None, None, None]:
    """Each not-yet-done item of a request judged at its accept (every one valid), in order,
    as `add` makes it; the last item with a given X-Item-Key value wins."""
    key = claimed.item_key
    keys = [key_text(normalised.get(key)) for normalised in judged] if key else []
    last = {text: index for index, text in enumerate(keys)}
    done = set(claimed.done_indices)
    shape = EntityShape.of(claimed.entity_type)
    refs = dict(claimed.reference_type_ids)
    type_id = claimed.entity_type.id
    for index, normalised in enumerate(judged):
        if index not in done:
            item = add(index)
            winner = last[keys[index]] if key else index
            if winner != index:
                item.superseded_by = winner
            else:
                record = item.record
                fill_record(record, type_id, shape, normalised, ref_types=refs, keyed=False)
                _key_first(claimed, record, normalised)
        if index % SLICE == SLICE - 1:
            yield


def _plan_one(
    claimed: store_pb2.ClaimedStreamRequest,
    index: int,
    values: Any,
    shape: EntityShape,
    refs: dict[str, str],
) -> tuple[store_pb2.StreamItem, dict[str, Any]]:
    # Judged again: the entity type may have changed since the request was accepted.
    path = "body" if claimed.single else f"items[{index}]"
    item = store_pb2.StreamItem(index=index)
    record, normalised, problems = judge_item(
        claimed.entity_type,
        claimed.default_region,
        refs,
        claimed.item_key,
        path,
        values,
        shape=shape,
        into=item.record,
    )
    if problems or record is None:
        return _failed(index, path, problems), normalised
    _key_first(claimed, record, normalised)
    return item, normalised


def _key_first(
    claimed: store_pb2.ClaimedStreamRequest,
    record: store_pb2.PlannedRecord,
    normalised: dict[str, Any],
) -> None:
    key = claimed.item_key
    if key:
        # The item key identifies the record; the type's unique fields still apply after it.
        record.ClearField("unique_fields")
        record.unique_fields.extend(
            [
                key,
                *(
                    f.slug
                    for f in claimed.entity_type.fields
                    if f.unique and f.slug != key and normalised.get(f.slug) is not None
                ),
            ]
        )


def _failed(index: int, path: str, problems: Iterable[Violation]) -> store_pb2.StreamItem:
    found = list(problems)
    return store_pb2.StreamItem(
        index=index,
        error=exactjson.to_raw(
            {
                "code": "VALIDATION_FAILED",
                "message": f"invalid item: {', '.join(p.field for p in found)}",
                "fields": [p.as_json() for p in found],
            }
        ),
    )
