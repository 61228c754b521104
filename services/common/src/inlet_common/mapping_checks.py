"""A mapping's JSON parsed into a Spec, every bad part named, and checked against an entity type."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from inlet_common import exactjson
from inlet_common.errors import InvalidArgument, Violation
from inlet_common.jsonpointer import MISSING, parse_pointer
from inlet_common.mappings import Rule, Spec, Transform

_WORD_TRANSFORMS = ("trim", "lower", "upper", "string", "first_name", "last_name")
_ARGUMENT_TRANSFORMS = ("date", "phone")
_RULE_KEYS = ("pointer", "root_pointer", "constant", "transforms", "default")
_SOURCES = ("pointer", "root_pointer", "constant")
_REGION = re.compile(r"^[A-Z]{2}$")


def parse(spec: Any, where: str = "mapping") -> Spec:
    """The mapping `spec` describes; InvalidArgument naming every bad part under `where`."""
    problems: list[Violation] = []
    mapping = _parse(spec, where, problems)
    if problems:
        raise invalid_mapping(problems)
    return mapping


def invalid_mapping(problems: list[Violation]) -> InvalidArgument:
    """INVALID_MAPPING naming the first bad part, every one in the violations."""
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidArgument(
        f"invalid mapping: {first.field}: {first.description}{more}",
        reason="INVALID_MAPPING",
        violations=problems,
    )


def _parse(spec: Any, where: str, problems: list[Violation]) -> Spec:
    if not isinstance(spec, dict):
        problems.append(Violation(where, f"{where} must be a JSON object", "INVALID_TYPE"))
        return Spec(spec)
    for key in spec:
        if key not in ("items", "fields", "related"):
            problems.append(
                Violation(
                    f"{where}.{key}",
                    f'unknown key "{key}" in {where} (expected items, fields, related)',
                    "UNKNOWN_FIELD",
                )
            )
    items: tuple[str, ...] | None = None
    if "items" in spec:
        items = _pointer(spec["items"], f"{where}.items", problems)
    fields = _rules(spec.get("fields", {}), f"{where}.fields", problems)
    related: dict[str, dict[str, Rule]] = {}
    raw_related = spec.get("related", {})
    if not isinstance(raw_related, dict):
        problems.append(
            Violation(f"{where}.related", "related must be a JSON object", "INVALID_TYPE")
        )
    else:
        for slug, entry in raw_related.items():
            here = f"{where}.related.{slug}"
            if not isinstance(entry, dict) or set(entry) != {"fields"}:
                problems.append(
                    Violation(here, f'{here} must be {{"fields": {{…}}}}', "INVALID_TYPE")
                )
                continue
            related[slug] = _rules(entry["fields"], f"{here}.fields", problems)
    if not fields and not related and not any(p.field.startswith(where) for p in problems):
        problems.append(
            Violation(f"{where}.fields", "the mapping maps no field: name at least one", "EMPTY")
        )
    return Spec(spec, items, fields, related)


def _pointer(value: Any, where: str, problems: list[Violation]) -> tuple[str, ...]:
    if not isinstance(value, str):
        problems.append(Violation(where, f"{where} must be a JSON Pointer string", "INVALID_TYPE"))
        return ()
    try:
        return parse_pointer(value)
    except ValueError as error:
        problems.append(Violation(where, str(error), "INVALID_POINTER"))
        return ()


def _rules(raw: Any, where: str, problems: list[Violation]) -> dict[str, Rule]:
    if not isinstance(raw, dict):
        problems.append(Violation(where, f"{where} must be a JSON object", "INVALID_TYPE"))
        return {}
    return {slug: _rule(value, f"{where}.{slug}", problems) for slug, value in raw.items()}


def _rule(raw: Any, where: str, problems: list[Violation]) -> Rule:
    if isinstance(raw, str):
        return Rule("pointer", _pointer(raw, where, problems))
    if not isinstance(raw, dict):
        problems.append(
            Violation(where, f"{where} must be a JSON Pointer or an object", "INVALID_TYPE")
        )
        return Rule("constant")
    for key in raw:
        if key not in _RULE_KEYS:
            problems.append(
                Violation(
                    f"{where}.{key}",
                    f'unknown key "{key}" (expected {", ".join(_RULE_KEYS)})',
                    "UNKNOWN_FIELD",
                )
            )
    sources = [s for s in _SOURCES if s in raw]
    if len(sources) != 1:
        problems.append(
            Violation(
                where, f"{where} needs exactly one of pointer, root_pointer, constant", "INVALID"
            )
        )
        return Rule("constant")
    source = sources[0]
    tokens: tuple[str, ...] = ()
    if source != "constant":
        tokens = _pointer(raw[source], f"{where}.{source}", problems)
    transforms = _transforms(raw.get("transforms", []), f"{where}.transforms", problems)
    return Rule(source, tokens, raw.get("constant"), transforms, raw.get("default", MISSING))


def _transforms(raw: Any, where: str, problems: list[Violation]) -> tuple[Transform, ...]:
    if not isinstance(raw, list):
        problems.append(Violation(where, f"{where} must be an array", "INVALID_TYPE"))
        return ()
    found: list[Transform] = []
    known = ", ".join([*_WORD_TRANSFORMS, '{"date": format}', '{"phone": region}'])
    for index, item in enumerate(raw):
        here = f"{where}[{index}]"
        if isinstance(item, str) and item in _WORD_TRANSFORMS:
            found.append(Transform(item))
            continue
        if isinstance(item, dict) and len(item) == 1:
            ((name, argument),) = item.items()
            if name == "date" and isinstance(argument, str) and "%" in argument:
                found.append(Transform(name, argument))
                continue
            if name == "phone" and isinstance(argument, str) and _REGION.match(argument):
                found.append(Transform(name, argument))
                continue
            if name in _ARGUMENT_TRANSFORMS:
                expected = (
                    "a strptime format such as %d.%m.%Y"
                    if name == "date"
                    else "an ISO 3166 region such as NO"
                )
                problems.append(Violation(here, f'"{name}" takes {expected}', "INVALID_TRANSFORM"))
                continue
        problems.append(
            Violation(
                here, f"unknown transform {_shown(item)} (known: {known})", "UNKNOWN_TRANSFORM"
            )
        )
    return tuple(found)


def _shown(value: Any) -> str:
    return exactjson.dumps(value).decode()[:80]


def check(
    mapping: Spec,
    fields: Mapping[str, str],
    related_fields: Mapping[str, Mapping[str, str]],
    where: str = "mapping",
) -> list[Violation]:
    """What in `mapping` does not fit the entity type: `fields` is its slug → field type,
    `related_fields` each reference field's referenced type the same way."""
    problems: list[Violation] = []
    known = ", ".join(fields) or "none"
    for slug in mapping.fields:
        if slug not in fields:
            problems.append(
                Violation(
                    f"{where}.fields.{slug}",
                    f"the entity type has no field {slug!r} (fields: {known})",
                    "UNKNOWN_FIELD",
                )
            )
    references = [s for s, kind_of in fields.items() if kind_of == "reference"]
    for slug, rules in mapping.related.items():
        here = f"{where}.related.{slug}"
        if slug not in references:
            problems.append(
                Violation(
                    here,
                    f"{slug!r} is not a reference field of the entity type"
                    f" (reference fields: {', '.join(references) or 'none'})",
                    "UNKNOWN_RELATED",
                )
            )
            continue
        if slug in mapping.fields:
            problems.append(
                Violation(
                    here, f"{slug} is mapped both in fields and in related", "CONFLICTING_REFERENCE"
                )
            )
        target = related_fields.get(slug, {})
        for inner in rules:
            if inner not in target:
                problems.append(
                    Violation(
                        f"{here}.fields.{inner}",
                        f"the type {slug} references has no field {inner!r}"
                        f" (fields: {', '.join(target) or 'none'})",
                        "UNKNOWN_FIELD",
                    )
                )
            elif target[inner] == "reference":
                problems.append(
                    Violation(
                        f"{here}.fields.{inner}",
                        "reference fields of a related record cannot be mapped",
                        "NESTED_REFERENCE_UNSUPPORTED",
                    )
                )
    return problems
