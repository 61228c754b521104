"""Integration mappings: where each field of a record sits in a pushed JSON body (RFC 6901
JSON Pointers) and how its value is transformed; parsed, checked against an entity type,
and applied to a body (no I/O).

A mapping, as an integration stores it::

    {"items": "/orders",                         # optional: each element is one record
     "fields": {"number": "/id",                 # a pointer into the item
                "email": {"pointer": "/customer/email", "transforms": ["trim", "lower"]},
                "placed_at": {"pointer": "/date", "transforms": [{"date": "%d.%m.%Y"}]},
                "channel": {"constant": "shop"},
                "country": {"root_pointer": "/shop/country", "default": "NO"}},
     "related": {"customer": {"fields": {"email": "/customer/email",
                                         "first_name": {"pointer": "/customer/name",
                                                        "transforms": ["first_name"]}}}}}

Transforms, in order: "trim", "lower", "upper", "string" (a number or boolean as text),
"first_name" and "last_name" (split a full name), {"date": strptime format} (to ISO 8601),
{"phone": region} (E.164 read with that region). A pointer to nothing (or to null or "")
takes the rule's "default" when it has one; otherwise the field is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inlet_common import exactjson
from inlet_common.errors import InvalidArgument, Violation
from inlet_common.normalise import FieldProblem, phone

GENERIC = "GENERIC"
MAPPING = "MAPPING"
TYPEFORM = "TYPEFORM"
CALENDLY = "CALENDLY"
SUPPORTED_TYPES = (GENERIC, MAPPING, TYPEFORM, CALENDLY)
VENDOR_TYPES = (TYPEFORM, CALENDLY)
TYPE_NOT_SUPPORTED = "INTEGRATION_TYPE_NOT_SUPPORTED"

_WORD_TRANSFORMS = ("trim", "lower", "upper", "string", "first_name", "last_name")
_ARGUMENT_TRANSFORMS = ("date", "phone")
_RULE_KEYS = ("pointer", "root_pointer", "constant", "transforms", "default")
_SOURCES = ("pointer", "root_pointer", "constant")
_REGION = re.compile(r"^[A-Z]{2}$")
_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class TypeNotSupported(InvalidArgument):
    """The seed's 400: exactly its detail, and no field list (the seed's body has none)."""

    reason = TYPE_NOT_SUPPORTED

    def __init__(self, type_: str) -> None:
        super().__init__(f"Integration type '{type_}' is not supported")


def check_type(type_: str) -> None:
    if type_ not in SUPPORTED_TYPES:
        raise TypeNotSupported(type_)


@dataclass(frozen=True)
class Transform:
    name: str
    argument: str = ""


@dataclass(frozen=True)
class Rule:
    """Where one field's value comes from, and what is done to it."""

    source: str  # pointer | root_pointer | constant
    pointer: tuple[str, ...] = ()
    constant: Any = None
    transforms: tuple[Transform, ...] = ()
    default: Any = MISSING


@dataclass(frozen=True)
class Spec:
    """A parsed mapping (`spec` is the JSON it was read from)."""

    spec: Any
    items: tuple[str, ...] | None = None
    fields: dict[str, Rule] = field(default_factory=dict)
    related: dict[str, dict[str, Rule]] = field(default_factory=dict)


@dataclass
class MappedItem:
    """One record (and its related records) as the mapping found it, before normalisation."""

    index: int
    values: dict[str, Any] = field(default_factory=dict)
    related: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[Violation] = field(default_factory=list)


# -- pointers -------------------------------------------------------------------------------


def parse_pointer(text: str) -> tuple[str, ...]:
    """An RFC 6901 JSON Pointer's reference tokens; ValueError when it is not one."""
    if text == "":
        return ()
    if not text.startswith("/"):
        raise ValueError(f'{text!r} is not a JSON Pointer: it must be "" or start with "/"')
    tokens = text[1:].split("/")
    if any(re.search(r"~(?![01])", t) for t in tokens):
        raise ValueError(f"{text!r} is not a JSON Pointer: '~' must be written ~0 or ~1")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in tokens)


def resolve(document: Any, tokens: Iterable[str]) -> Any:
    """The value the tokens point at, or MISSING."""
    here = document
    for token in tokens:
        if isinstance(here, dict):
            if token not in here:
                return MISSING
            here = here[token]
        elif isinstance(here, list):
            if not _INDEX.match(token) or int(token) >= len(here):
                return MISSING
            here = here[int(token)]
        else:
            return MISSING
    return here


def _pointer_text(tokens: tuple[str, ...]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


# -- parsing and checking a mapping -----------------------------------------------------------


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
    references = [s for s, kind in fields.items() if kind == "reference"]
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


# -- applying a mapping -----------------------------------------------------------------------


def item_documents(
    type_: str, mapping: Spec | None, document: Any
) -> tuple[list[Any], Violation | None]:
    """The item documents of a body (GENERIC and MAPPING), or why the body has none."""
    if mapping is not None and mapping.items is not None:
        found = resolve(document, mapping.items)
        where = _pointer_text(mapping.items)
        if not isinstance(found, list):
            got = "nothing" if found is MISSING else kind(found)
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
    message = f"the body must be a JSON object or an array of objects, got {kind(document)}"
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
        raise FieldProblem("INVALID_TYPE", f"string needs a number or boolean, got {kind(value)}")
    if name == "phone":
        return phone(value, transform.argument)
    if not isinstance(value, str):
        raise FieldProblem("INVALID_TYPE", f"{name} needs a string, got {kind(value)}")
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


def split_name(full: str) -> tuple[str | None, str | None]:
    """ "Ola Nordmann" → (Ola, Nordmann); "Mary Ann Smith" → (Mary Ann, Smith);
    "Nordmann, Ola" → (Ola, Nordmann); one word is a first name."""
    cleaned = " ".join(full.split())
    if not cleaned:
        return None, None
    if "," in cleaned:
        last, _, first = cleaned.partition(",")
        return first.strip() or None, last.strip() or None
    first, _, last = cleaned.rpartition(" ")
    if not first:
        return last, None
    return first, last


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a number"
