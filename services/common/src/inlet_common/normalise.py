"""Validation and normalisation of one field value by its type (no I/O)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from inlet.type.v1 import entity_pb2
from inlet_common.exactjson import Number


class FieldProblem(Exception):
    """A value that does not fit its field: a stable reason and a message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _type_error(expected: str, value: Any) -> FieldProblem:
    got = "null" if value is None else type(value).__name__.replace("str", "string")
    return FieldProblem("INVALID_TYPE", f"expected {expected}, got {got}")


def text(value: Any) -> str | None:
    if not isinstance(value, str):
        raise _type_error("a string", value)
    cleaned = unicodedata.normalize("NFC", value.strip())
    # An all-blank string carries no value: treating it as absent keeps "" out of keys.
    return cleaned or None


# E-mail and phone checks cost a fraction of a millisecond each, and the same addresses
# and numbers come again and again (an upsert repeats its key): the last ones are kept.
# Only results are kept; a refused value is checked again each time.
_REMEMBERED = 16_384


def email(value: Any) -> str:
    if not isinstance(value, str):
        raise _type_error("an e-mail address string", value)
    return _email(value.strip())


@lru_cache(maxsize=_REMEMBERED)
def _email(text: str) -> str:
    quick = _plain_email(text)
    if quick is not None:
        return quick
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise FieldProblem("INVALID_EMAIL", str(error)) from None
    return str(checked.normalized).lower()


def _plain_email(text: str) -> str | None:
    """validate_email's answer for the common address, an ASCII dot-atom before the @,
    with its domain checked once per domain; None when the full check must decide.

    It is the same answer by construction: for such an address validate_email splits at
    the first @, takes the part before it as it is, and checks the domain without looking
    at that part; only the address's length depends on both, and any address over a
    limit (or with a refused domain) goes the full way, which words the refusal."""
    local, at, domain = text.partition("@")
    if not at or not text.isascii() or not DOT_ATOM_TEXT.match(local):
        return None
    checked = _email_domain(domain)
    if checked is None:
        return None
    shown, ascii_domain = checked
    normalized = f"{local}@{shown}"
    if (
        len(text) > EMAIL_MAX_LENGTH
        or len(normalized.encode()) > EMAIL_MAX_LENGTH
        or len(local) + 1 + len(ascii_domain) > EMAIL_MAX_LENGTH
    ):
        return None
    return normalized.lower()


@lru_cache(maxsize=_REMEMBERED)
def _email_domain(domain: str) -> tuple[str, str] | None:
    """The domain as validate_email normalises it (and its IDNA ASCII form), checked on an
    address with the shortest valid part before the @; None when it is refused."""
    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return str(checked.domain), str(checked.ascii_domain)


# What people put between digits; removed when a number cannot be placed.
_PHONE_PUNCTUATION = re.compile(r"[\s\-.()\[\]/]")


def _parse_phone(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        pass
    if not region and text.startswith("00"):
        # 00 is the international prefix of most of the world: 0047 … is +47 ….
        try:
            return phonenumbers.parse("+" + text[2:], None)
        except phonenumbers.NumberParseException:
            return None
    return None


def phone(value: Any, region: str) -> str:
    """E.164 (plus `;ext=` when one was given) when phonenumbers can place the value as a
    possible number; otherwise the value without spaces, dashes, dots, brackets or
    slashes. Never refused for a range a numbering plan does not list (the contract
    promises normalisation, not validation); only a value without digits is."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _type_error("a phone number string", value)
    return _phone(value, region)


@lru_cache(maxsize=_REMEMBERED)
def _phone(value: str, region: str) -> str:
    stripped = unicodedata.normalize("NFKC", value).strip()
    if not any(ch.isdigit() for ch in stripped):
        raise FieldProblem("INVALID_PHONE", f"{value!r} has no digits: not a phone number")
    parsed = _parse_phone(stripped, region)
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        # An extension reaches another person: it is part of the key.
        return f"{e164};ext={parsed.extension}" if parsed.extension else str(e164)
    # NFKC again: a combining mark that followed a removed space now composes with the
    # character before it, and the key must not change when normalised again.
    return unicodedata.normalize("NFKC", _PHONE_PUNCTUATION.sub("", stripped))


def number(value: Any) -> int | Number:
    """A JSON number exactly as sent (an int, or a Number that keeps its text)."""
    if isinstance(value, bool) or not isinstance(value, int | Number):
        raise _type_error("a number", value)
    return value


def integer(value: Any) -> int | Number:
    """A JSON number with an integral value, exactly as sent (1.0 and 1e3 are integral)."""
    checked = number(value)
    if isinstance(checked, Number) and checked != checked.to_integral_value():
        raise FieldProblem("INVALID_TYPE", f"expected an integer, got {checked}")
    return checked


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _type_error("true or false", value)
    return value


def timestamp(value: Any) -> str:
    if not isinstance(value, str):
        raise _type_error("an RFC 3339 timestamp string", value)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FieldProblem("INVALID_DATETIME", f"{value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        # Documented: a timestamp without an offset is taken as UTC.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def reference(value: Any) -> str:
    if not isinstance(value, str):
        raise _type_error("a record id string", value)
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise FieldProblem("INVALID_REFERENCE", f"{value!r} is not a record id") from None


def normalise(field: entity_pb2.Field, value: Any, region: str) -> Any:
    """The normalised value of `value` for `field`; None stays None (clears the field)."""
    if value is None:
        return None
    return normaliser(field)(value, region)


def normaliser(field: entity_pb2.Field) -> Callable[[Any, str], Any]:
    """normalise() for `field`, its type read once: for a caller that normalises many values
    of it (a stream's items). Takes a value (not None) and the default region."""
    kind = field.type
    found = _BY_TYPE.get(kind)
    if found is not None:
        return found

    def unsupported(value: Any, region: str) -> Any:
        raise FieldProblem("UNSUPPORTED_FIELD_TYPE", f"field type {kind} is not supported")

    return unsupported


# Each field type's normaliser, as (value, default region) → normalised value.
_BY_TYPE: dict[int, Callable[[Any, str], Any]] = {
    entity_pb2.FIELD_TYPE_TEXT: lambda value, region: text(value),
    entity_pb2.FIELD_TYPE_EMAIL: lambda value, region: email(value),
    entity_pb2.FIELD_TYPE_PHONE: phone,
    entity_pb2.FIELD_TYPE_NUMBER: lambda value, region: number(value),
    entity_pb2.FIELD_TYPE_INTEGER: lambda value, region: integer(value),
    entity_pb2.FIELD_TYPE_BOOLEAN: lambda value, region: boolean(value),
    entity_pb2.FIELD_TYPE_DATETIME: lambda value, region: timestamp(value),
    entity_pb2.FIELD_TYPE_REFERENCE: lambda value, region: reference(value),
}


# Integral numbers with up to this many digits are keyed as an int's text.
_INT_KEY_DIGITS = 4000


# A unique value is indexed as text (record_keys' primary key): PostgreSQL's btree cannot
# hold an entry over about 2.7 KB, so longer values are refused before they reach it.
MAX_KEY_BYTES = 1000


def key_too_long(text: str) -> bool:
    """Whether a unique value's indexed text is too long to match on."""
    return len(text.encode()) > MAX_KEY_BYTES


def key_text(value: Any) -> str:
    """The text a normalised unique value is indexed under."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        # One key per numeric value: 1000, 1000.0 and 1e3 are the same number (the record
        # keeps the text it was sent with; the key does not).
        if value == value.to_integral_value():
            if value.adjusted() < _INT_KEY_DIGITS:
                return str(int(value))
            # Too many digits for an int's text (and 1e999999 would take a while to make):
            # the exact digits and exponent, which no shorter spelling shares.
            sign, digits, exponent = value.as_tuple()
            text = "".join(map(str, digits)).rstrip("0") or "0"
            shift = len(digits) - len(text)
            return f"{'-' if sign else ''}{text}e{int(exponent) + shift}"
        return format(value, "f").rstrip("0")  # normalize() would round to 28 digits
    return str(value)
