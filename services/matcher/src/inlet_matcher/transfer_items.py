"""Planning a claimed push transfer's items: each item's data and its associations mapped
to their entity types' fields (the session's field maps) and normalised."""

from __future__ import annotations

from typing import Any

from inlet.store.v1 import store_pb2
from inlet_common import exactjson
from inlet_common.errors import Violation
from inlet_matcher.planner import plan_entity


def _identifier(value: Any) -> str:
    return "" if value is None else str(value).strip()


def plan_push_entity(
    kind: store_pb2.PushSessionType | None,
    endgrate_type: str,
    region: str,
    sample: bool,
    path: str,
    raw: dict[str, Any],
    problems: list[Violation],
) -> store_pb2.PlannedPushEntity:
    """One item or association; its problems (named by endgrate field) are appended."""
    entity = store_pb2.PlannedPushEntity(
        endgrate_type=endgrate_type,
        id=_identifier(raw.get("id")),
        internal_id=_identifier(raw.get("internal_id")),
        path=path,
    )
    if kind is None or not kind.entity_type.id:
        problems.append(
            Violation(
                path,
                f"{endgrate_type!r} is no longer a type of the session",
                "UNKNOWN_ENDGRATE_TYPE",
            )
        )
        return entity
    data = raw.get("data") or {}
    if not data and not entity.id and not entity.internal_id:
        problems.append(
            Violation(f"{path}.data", "data is empty: send at least one field", "EMPTY_DATA")
        )
        return entity
    field_map = dict(kind.field_map)
    mapped: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, value in data.items():
        slug = field_map.get(name, name)
        mapped[slug] = value
        names[slug] = name
    found: list[Violation] = []
    record, _ = plan_entity(
        kind.entity_type,
        mapped,
        region,
        f"{path}.data",
        found,
        ref_types=dict(kind.reference_type_ids),
        satisfied=set(),
    )
    prefix = f"{path}.data."
    for problem in found:
        # Named as the caller wrote it: by endgrate field, not by entity field.
        slug = problem.field.removeprefix(prefix)
        if problem.field.startswith(prefix) and slug in names:
            problem = Violation(prefix + names[slug], problem.description, problem.reason)
        problems.append(problem)
    if sample:
        # Sample records are examples: they take no unique keys, so never match real ones.
        del record.unique_fields[:]
    entity.record.CopyFrom(record)
    return entity


def plan_transfer(claimed: store_pb2.ClaimedStreamRequest) -> list[store_pb2.PlannedPushItem]:
    """Every not-yet-done item, planned or with the reason it cannot be applied."""
    push = claimed.push
    items = exactjson.from_raw(claimed.items, [])
    assert isinstance(items, list)
    kinds = {t.endgrate_type: t for t in push.types}
    done = set(claimed.done_indices)
    planned: list[store_pb2.PlannedPushItem] = []
    for index, raw in enumerate(items):
        if index in done:
            continue
        path = f"transfer_data[{index}]"
        problems: list[Violation] = []
        item = store_pb2.PlannedPushItem(
            index=index, internal_id=_identifier(raw.get("internal_id"))
        )
        entity = plan_push_entity(
            kinds.get(push.endgrate_type),
            push.endgrate_type,
            push.default_region,
            push.sample_data,
            path,
            raw,
            problems,
        )
        associations = []
        for name, entries in (raw.get("associations") or {}).items():
            for j, entry in enumerate(entries):
                associations.append(
                    plan_push_entity(
                        kinds.get(name),
                        name,
                        push.default_region,
                        push.sample_data,
                        f"{path}.associations.{name}[{j}]",
                        entry,
                        problems,
                    )
                )
        if problems:
            item.error.CopyFrom(
                exactjson.to_raw(
                    {
                        "code": "VALIDATION_FAILED",
                        "message": "invalid transfer data: "
                        + "; ".join(f"{p.field}: {p.description}" for p in problems[:3])
                        + (f"; and {len(problems) - 3} more" if len(problems) > 3 else ""),
                        "fields": [p.as_json() for p in problems],
                    }
                )
            )
        else:
            item.entity.CopyFrom(entity)
            item.associations.extend(associations)
        planned.append(item)
    return planned
