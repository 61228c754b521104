"""The external form's body: read (JSON object or url-encoded fields) and planned into one
record of the client token's entity type; fields the type lacks are kept with the
submission, not refused (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson
from inlet_common.errors import Violation
from inlet_common.mappings import split_name
from inlet_matcher.bodies import kind_of
from inlet_matcher.planner import plan_entity

JSON = "application/json"
URL_ENCODED = "application/x-www-form-urlencoded"
_TRUE = ("true", "on", "yes", "1")
_FALSE = ("false", "off", "no", "0", "")


@dataclass(frozen=True)
class FormBody:
    """A submitted form, or why it cannot be read (`rejection` and its reason)."""

    values: dict[str, Any] = field(default_factory=dict)
    encoded: bool = False  # url-encoded: every value is text
    rejection: str = ""
    reason: str = ""
    problems: tuple[Violation, ...] = ()


def _refused(message: str, reason: str, where: str = "body") -> FormBody:
    return FormBody(rejection=message, reason=reason, problems=(Violation(where, message, reason),))


def read_form(data: bytes, content_type: str) -> FormBody:
    """The form's fields by name; a body that is not a form is refused naming why."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in ("", JSON, URL_ENCODED) and not media.endswith("+json"):
        return _refused(
            f"Content-Type {media!r} is not supported: send {JSON} or {URL_ENCODED}",
            "UNSUPPORTED_MEDIA_TYPE",
            "Content-Type",
        )
    if not data.strip():
        return _refused("request body is empty: send the form's fields", "EMPTY_BODY")
    if media == URL_ENCODED:
        try:
            pairs = parse_qsl(data.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as error:
            return _refused(f"request body is not url-encoded fields: {error}", "INVALID_BODY")
        return FormBody(dict(pairs), encoded=True)
    try:
        document = exactjson.loads(data)
    except exactjson.DecodeError as error:
        return _refused(f"request body is not valid JSON: {error}", "MALFORMED_JSON")
    if not isinstance(document, dict):
        return _refused(
            f"request body must be a JSON object of the form's fields, got {kind_of(document)}",
            "INVALID_BODY",
        )
    return FormBody(document)


def plan_form(
    schema: store_pb2.StreamSchema, form: FormBody
) -> tuple[store_pb2.PlannedRecord | None, list[Violation]]:
    """The record the form writes, or every bad field (each named as the form names it)."""
    entity_type = schema.entity_type
    fields = {f.slug: f for f in entity_type.fields}
    values = {
        slug: _typed(fields[slug], value) if form.encoded else value
        for slug, value in form.values.items()
        if slug in fields
    }
    name = form.values.get("name")
    if "name" not in fields and isinstance(name, str):
        # A form's full name fills first and last name when the type has those instead.
        first, last = split_name(name)
        for slug, part in (("first_name", first), ("last_name", last)):
            if slug in fields and slug not in values and part:
                values[slug] = part
    problems: list[Violation] = []
    email = values.get("email")
    if email is None or (isinstance(email, str) and not email.strip()):
        problems.append(
            Violation(
                "email",
                "email is required: the form matches people on it",
                "REQUIRED_FIELD_MISSING",
            )
        )
        values.pop("email", None)
    record, _ = plan_entity(
        entity_type,
        values,
        schema.default_region,
        "",
        problems,
        ref_types=dict(schema.reference_type_ids),
        satisfied=set(),
    )
    if problems:
        return None, problems
    return record, []


def _typed(spec: entity_pb2.Field, text: Any) -> Any:
    """A url-encoded value (text) as the JSON value its field takes."""
    if not isinstance(text, str):
        return text
    if spec.type == entity_pb2.FIELD_TYPE_NUMBER:
        try:
            value = exactjson.loads(text.strip())
        except exactjson.DecodeError:
            return text  # refused by normalisation, naming the field
        return value if kind_of(value) == "a number" else text
    if spec.type == entity_pb2.FIELD_TYPE_BOOLEAN:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return text
