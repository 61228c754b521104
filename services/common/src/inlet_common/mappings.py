"""Integration mappings: the integration types, a mapping's parsed form, and split names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inlet_common.errors import InvalidArgument, Violation
from inlet_common.jsonpointer import MISSING

GENERIC = "GENERIC"
MAPPING = "MAPPING"
TYPEFORM = "TYPEFORM"
CALENDLY = "CALENDLY"
SUPPORTED_TYPES = (GENERIC, MAPPING, TYPEFORM, CALENDLY)
VENDOR_TYPES = (TYPEFORM, CALENDLY)
TYPE_NOT_SUPPORTED = "INTEGRATION_TYPE_NOT_SUPPORTED"


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
    """A parsed mapping (`spec` is the JSON it was read from): where each field of a record
    sits in a pushed JSON body (RFC 6901 JSON Pointers) and how its value is transformed.

    A mapping, as an integration stores it::

        {"items": "/orders",                       # optional: each element is one record
         "fields": {"number": "/id",               # a pointer into the item
                    "email": {"pointer": "/customer/email", "transforms": ["trim", "lower"]},
                    "placed_at": {"pointer": "/date", "transforms": [{"date": "%d.%m.%Y"}]},
                    "channel": {"constant": "shop"},
                    "country": {"root_pointer": "/shop/country", "default": "NO"}},
         "related": {"customer": {"fields": {"email": "/customer/email",
                                             "first_name": {"pointer": "/customer/name",
                                                            "transforms": ["first_name"]}}}}}

    Transforms, in order: "trim", "lower", "upper", "string" (a number or boolean as text),
    "first_name" and "last_name" (split a full name), {"date": strptime format} (to ISO
    8601), {"phone": region} (E.164 read with that region). A pointer to nothing (or to null
    or "") takes the rule's "default" when it has one; otherwise the field is left out.
    """

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
