"""A mapping applied to a body: its item documents, and each field's value after its transforms."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from inlet_common import exactjson
from inlet_common.errors import Violation
from inlet_common.exactjson import kind_of
from inlet_common.jsonpointer import MISSING, pointer_text, resolve
from inlet_common.mappings import GENERIC, MappedItem, Rule, Spec, Transform, split_name
from inlet_common.normalise import FieldProblem, phone


def item_documents(
    type_: str, mapping: Spec | None, document: Any
) -> tuple[list[Any], Violation | None]:
    """The item documents of a body (GENERIC and MAPPING), or why the body has none."""
    if mapping is not None and mapping.items is not None:
        found = resolve(document, mapping.items)
        where = pointer_text(mapping.items)
        if not isinstance(found, list):
            got = "nothing" if found is MISSING else kind_of(found)
            return [], Violation(
                "body",
                f"the mapping's items pointer {where!r} finds {got}, not an array",
                "NO_ITEMS",
            )
        return found, None
    if isinstance(document, list):
        return document, None
    if isinstance(document, dict) or type_ != GENERIC:
        return [document], None
    message = f"the body must be a JSON object or an array of objects, got {kind_of(document)}"
    return [], Violation("body", message, "INVALID_TYPE")


def apply(
    mapping: Spec,
    items: list[Any],
    root: Any,
    *,
    known: Mapping[str, Iterable[str]] | None = None,
) -> list[MappedItem]:
    """Each item's values (and related records' values) by field slug. With `known`
    ("" → the type's slugs, reference slug → the related type's slugs), rules for fields
    the types lack are skipped: a ready-made mapping names fields a type may not have."""
    found: list[MappedItem] = []
    for index, item in enumerate(items):
        mapped = MappedItem(index)
        path = f"items[{index}]"
        mapped.values = _values(mapping.fields, item, root, path, mapped.problems, known, "")
        for slug, rules in mapping.related.items():
            values = _values(
                rules, item, root, f"{path}.related.{slug}", mapped.problems, known, slug
            )
            if values:
                mapped.related[slug] = values
        found.append(mapped)
    return found


def _values(
    rules: dict[str, Rule],
    item: Any,
    root: Any,
    path: str,
    problems: list[Violation],
    known: Mapping[str, Iterable[str]] | None,
    scope: str,
) -> dict[str, Any]:
    allowed = set(known.get(scope, ())) if known is not None else None
    values: dict[str, Any] = {}
    for slug, rule in rules.items():
        if allowed is not None and slug not in allowed:
            continue
        try:
            value = value_of(rule, item, root)
        except FieldProblem as problem:
            problems.append(Violation(f"{path}.{slug}", problem.message, problem.reason))
            continue
        if value is not MISSING:
            values[slug] = value
    return values


def value_of(rule: Rule, item: Any, root: Any) -> Any:
    """A rule's value for one item (MISSING: leave the field out); FieldProblem when a
    transform cannot take the value."""
    if rule.source == "constant":
        value = rule.constant
    else:
        value = resolve(root if rule.source == "root_pointer" else item, rule.pointer)
    if value is not MISSING and value is not None:
        for transform in rule.transforms:
            value = _transformed(transform, value)
            if value is None:
                break
    if value is MISSING or value is None or (isinstance(value, str) and not value.strip()):
        return rule.default
    return value


def _transformed(transform: Transform, value: Any) -> Any:
    name = transform.name
    if name == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return value
        if isinstance(value, int | exactjson.Number):
            return str(value)
        raise FieldProblem(
            "INVALID_TYPE", f"string needs a number or boolean, got {kind_of(value)}"
        )
    if name == "phone":
        return phone(value, transform.argument)
    if not isinstance(value, str):
        raise FieldProblem("INVALID_TYPE", f"{name} needs a string, got {kind_of(value)}")
    if name == "trim":
        return value.strip()
    if name == "lower":
        return value.lower()
    if name == "upper":
        return value.upper()
    if name in ("first_name", "last_name"):
        first, last = split_name(value)
        return first if name == "first_name" else last
    assert name == "date"
    try:
        parsed = datetime.strptime(value.strip(), transform.argument)
    except ValueError:
        raise FieldProblem(
            "INVALID_DATETIME", f"{value!r} does not match the date format {transform.argument!r}"
        ) from None
    return parsed.isoformat()
