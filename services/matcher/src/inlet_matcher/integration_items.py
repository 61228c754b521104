"""Planning a claimed integration request: its body (stored as sent) read by the
integration's type and mapping into items, each checked and normalised as endpoint push
does, related records included (no I/O)."""

from __future__ import annotations

from typing import Any

from inlet.store.v1 import store_pb2
from inlet_common import exactjson
from inlet_common.errors import InletError, Violation
from inlet_common.integration_bodies import map_body
from inlet_common.mappings import SUPPORTED_TYPES, TypeNotSupported
from inlet_matcher.planner import plan_entity


def _failed(index: int, code: str, message: str, problems: list[Violation]) -> store_pb2.StreamItem:
    return store_pb2.StreamItem(
        index=index,
        error=exactjson.to_raw(
            {"code": code, "message": message, "fields": [p.as_json() for p in problems]}
        ),
    )


def plan_integration(claimed: store_pb2.ClaimedStreamRequest) -> list[store_pb2.StreamItem]:
    """Every not-yet-done item of the request, planned or failed with its reasons. A body the
    integration cannot read as a whole is one failed item that says why."""
    spec = claimed.integration
    done = set(claimed.done_indices)
    if spec.type not in SUPPORTED_TYPES:
        # The type was changed to one this release does not know after the 202.
        error = TypeNotSupported(spec.type)
        return [_failed(0, error.reason, error.message, [])]
    try:
        document = exactjson.loads(claimed.body)
        mapping = exactjson.from_raw(spec.mapping) if spec.HasField("mapping") else None
        known: dict[str, list[str]] = {"": [f.slug for f in claimed.entity_type.fields]}
        known.update(
            {slug: [f.slug for f in t.fields] for slug, t in claimed.referenced_types.items()}
        )
        mapped = map_body(spec.type, mapping, document, known=known)
    except (exactjson.DecodeError, InletError) as error:
        # The body was JSON and the mapping valid at the 202; either may have changed since.
        message = str(error) if isinstance(error, exactjson.DecodeError) else error.message
        return [_failed(0, "INVALID_BODY", message, [])] if 0 not in done else []
    if mapped.problems:
        message = f"the body cannot be read as a {spec.type} body: " + "; ".join(
            f"{p.field}: {p.description}" for p in mapped.problems
        )
        return [] if 0 in done else [_failed(0, "INVALID_BODY", message, mapped.problems)]
    planned = []
    for item in mapped.items:
        if item.index in done:
            continue
        planned.append(_plan_item(claimed, item.index, item.values, item.related, item.problems))
    return planned


def _plan_item(
    claimed: store_pb2.ClaimedStreamRequest,
    index: int,
    values: dict[str, Any],
    related: dict[str, dict[str, Any]],
    found: list[Violation],
) -> store_pb2.StreamItem:
    path = f"items[{index}]"
    problems = list(found)
    if not values and not related and not problems:
        problems.append(Violation(path, f"{path} has no value for any field", "NO_VALUES"))
    for slug in related:
        if slug in values:
            problems.append(
                Violation(
                    f"{path}.related.{slug}",
                    f"{slug} is given both as a value and as a related record",
                    "CONFLICTING_REFERENCE",
                )
            )
    record, _ = plan_entity(
        claimed.entity_type,
        values,
        claimed.default_region,
        path,
        problems,
        ref_types=dict(claimed.reference_type_ids),
        satisfied=set(related),
    )
    planned_related: dict[str, store_pb2.PlannedRecord] = {}
    for slug, related_values in related.items():
        target = claimed.referenced_types.get(slug)
        if target is None:
            problems.append(
                Violation(
                    f"{path}.related.{slug}",
                    f"{slug!r} is not a reference field of {claimed.entity_type.slug}",
                    "UNKNOWN_RELATED",
                )
            )
            continue
        planned_related[slug], _ = plan_entity(
            target,
            related_values,
            claimed.default_region,
            f"{path}.related.{slug}",
            problems,
            ref_types=None,
            satisfied=set(),
        )
    if problems:
        names = ", ".join(p.field for p in problems)
        return _failed(index, "VALIDATION_FAILED", f"invalid item: {names}", problems)
    return store_pb2.StreamItem(index=index, record=record, related=planned_related)
