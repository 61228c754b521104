"""The standard endgrate types (crm-contact, crm-company): their ready-made entity types and
default upsert keys."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from inlet_store.domain import FieldDef


@dataclass(frozen=True)
class StandardType:
    slug: str  # the endgrate type, and the slug of its ready-made entity type
    display_name: str
    fields: tuple[FieldDef, ...]
    # Default upsert keys, in the order they are tried.
    upsert_keys: tuple[str, ...]


def _f(slug: str, display_name: str, kind: str = "text") -> FieldDef:
    # No unique flags: disable_upsert must always be able to create a twin.
    return FieldDef(slug=slug, display_name=display_name, type=kind)


STANDARD_TYPES: Mapping[str, StandardType] = {
    "crm-contact": StandardType(
        "crm-contact",
        "CRM contact",
        (
            _f("first_name", "First name"),
            _f("last_name", "Last name"),
            _f("email", "E-mail", "email"),
            _f("phone", "Phone", "phone"),
            _f("title", "Title"),
            _f("description", "Description"),
        ),
        ("email", "phone", "full_name"),
    ),
    "crm-company": StandardType(
        "crm-company",
        "CRM company",
        (
            _f("name", "Name"),
            _f("domain", "Domain"),
            _f("website", "Website"),
            _f("industry", "Industry"),
            _f("phone", "Phone", "phone"),
            _f("description", "Description"),
        ),
        ("domain", "full_name"),
    ),
}

_SPACES = re.compile(r"\s+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def _words(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value).casefold()).strip()


def _contact_name(data: Mapping[str, Any]) -> str:
    return " ".join(w for w in (_words(data.get("first_name")), _words(data.get("last_name"))) if w)


def _company_name(data: Mapping[str, Any]) -> str:
    return _words(data.get("name"))


def domain_key(value: Any) -> str:
    """acme.com for "https://www.Acme.com/about", "ACME.COM." and "acme.com:443"."""
    text = _words(value)
    text = _SCHEME.sub("", text).split("/", 1)[0].split("?", 1)[0]
    text = text.rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".")
    return text.removeprefix("www.")


def _plain(name: str) -> Callable[[Mapping[str, Any]], str]:
    def key(data: Mapping[str, Any]) -> str:
        value = data.get(name)
        # Values come normalised (e-mails lower-cased, phones E.164): keyed as they are.
        return value if isinstance(value, str) else ""

    return key


_KEYS: Mapping[str, Mapping[str, Callable[[Mapping[str, Any]], str]]] = {
    "crm-contact": {"email": _plain("email"), "phone": _plain("phone"), "full_name": _contact_name},
    "crm-company": {"domain": lambda d: domain_key(d.get("domain")), "full_name": _company_name},
}


def match_keys(endgrate_type: str, data: Mapping[str, Any]) -> dict[str, str]:
    """The default upsert keys a record's values give, in the order they are tried (a key
    without a value is left out); none for a type without default keys."""
    found: dict[str, str] = {}
    for name, key in _KEYS.get(endgrate_type, {}).items():
        value = key(data)
        if value:
            found[name] = value
    return found


def upsert_keys(endgrate_type: str) -> tuple[str, ...]:
    standard = STANDARD_TYPES.get(endgrate_type)
    return standard.upsert_keys if standard else ()
