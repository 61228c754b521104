"""A pushed body as an integration of any type reads it: its item documents, each item's
values by field slug (and its related records'), and what could not be read (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inlet_common import mapping_checks, mapping_values, vendors
from inlet_common.errors import Violation
from inlet_common.exactjson import kind_of
from inlet_common.mappings import GENERIC, MAPPING, VENDOR_TYPES, MappedItem, Spec


@dataclass
class MappedBody:
    """The items of a body; `problems` when the body as a whole cannot be read."""

    spec: Any  # the mapping used (the integration's, or the type's ready-made one)
    items: list[MappedItem] = field(default_factory=list)
    problems: list[Violation] = field(default_factory=list)


def map_body(
    type_: str,
    spec: Any,
    document: Any,
    *,
    known: Mapping[str, Iterable[str]] | None = None,
) -> MappedBody:
    """The items of `document` for an integration of `type_` with mapping `spec` (None:
    none). `known` (the types' field slugs, see mapping_values.apply) skips the fields of a
    ready-made mapping the entity type lacks."""
    if type_ == GENERIC:
        return _generic(document)
    if type_ in VENDOR_TYPES:
        flat, problems = vendors.document(type_, document)
        if problems:
            return MappedBody(spec or vendors.DEFAULT_MAPPINGS[type_], problems=problems)
        if spec is None:
            spec = vendors.DEFAULT_MAPPINGS[type_]
        else:
            known = None  # a mapping the user wrote names the fields they meant
        parsed = mapping_checks.parse(spec)
        items, problem = mapping_values.item_documents(type_, parsed, flat)
        if problem is not None:
            return MappedBody(spec, problems=[problem])
        return MappedBody(spec, mapping_values.apply(parsed, items, flat, known=known))
    assert type_ == MAPPING, type_
    parsed = mapping_checks.parse(spec)
    items, problem = mapping_values.item_documents(type_, parsed, document)
    if problem is not None:
        return MappedBody(spec, problems=[problem])
    return MappedBody(spec, mapping_values.apply(parsed, items, document))


def _generic(document: Any) -> MappedBody:
    items, problem = mapping_values.item_documents(GENERIC, None, document)
    if problem is not None:
        return MappedBody(None, problems=[problem])
    mapped: list[MappedItem] = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            mapped.append(MappedItem(index, values=dict(item)))
        else:
            message = f"items[{index}] must be a JSON object, got {kind_of(item)}"
            mapped.append(
                MappedItem(index, problems=[Violation(f"items[{index}]", message, "INVALID_TYPE")])
            )
    return MappedBody(None, mapped)


def count_items(type_: str, spec: Any, document: Any) -> int:
    """How many items a body holds (one when it holds none: the failed item that says why)."""
    if type_ in VENDOR_TYPES:
        return 1
    parsed: Spec | None = (
        mapping_checks.parse(spec) if type_ == MAPPING and spec is not None else None
    )
    items, problem = mapping_values.item_documents(type_, parsed, document)
    return 1 if problem is not None else len(items)
