"""The first part of a JSON document that does not fit a message: its path, code and message."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor, json_format, message_factory

from inlet_common.exactjson import kind_of
from inlet_common.protofields import (
    expected_json,
    field_named,
    is_map,
    is_plain_message,
    join_path,
    message_of,
)

# Codes of a single bad field (BadRequest.FieldViolation.reason).
UNKNOWN_FIELD = "UNKNOWN_FIELD"
INVALID_TYPE = "INVALID_TYPE"


def _misfit(fd: descriptor.FieldDescriptor, value: Any) -> str | None:
    """Why ParseDict rejects `value` for field `fd` on its own; None when it accepts it."""
    assert fd.containing_type is not None
    holder = message_factory.GetMessageClass(fd.containing_type)()
    try:
        json_format.ParseDict({fd.name: value}, holder)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        return str(error) or type(error).__name__
    return None


def _wrong(
    fd: descriptor.FieldDescriptor, value: Any, path: str, *, element: bool, why: str
) -> tuple[str, str, str]:
    expected = expected_json(fd, element=element)
    got = kind_of(value)
    if element and fd.enum_type is not None and isinstance(value, str | int):
        return path, INVALID_TYPE, f'"{path}" must be {expected}'
    if expected.startswith(got):
        # The right JSON type but an unacceptable value (out of range, unknown enum, ...).
        return path, INVALID_TYPE, f'"{path}" is not {expected}: {why}'
    return path, INVALID_TYPE, f'"{path}" must be {expected}, got {got}'


def locate_misfit(
    msg: descriptor.Descriptor, document: Any, path: str
) -> tuple[str, str, str] | None:
    """(field path, code, message) of the first part of `document` that does not fit `msg`."""
    if not isinstance(document, dict):
        return path, INVALID_TYPE, f'"{path}" must be an object, got {kind_of(document)}'
    for key, value in document.items():
        here = join_path(path, key)
        fd = field_named(msg, key)
        if fd is None:
            known = ", ".join(f.name for f in msg.fields)
            return here, UNKNOWN_FIELD, f'unknown field "{here}" (known fields: {known})'
        if value is None:
            continue
        why = _misfit(fd, value)
        if why is not None:
            return _locate_field(fd, value, here, why)
    return None


def _locate_field(
    fd: descriptor.FieldDescriptor, value: Any, path: str, why: str
) -> tuple[str, str, str]:
    if is_map(fd) or fd.is_repeated:
        if is_map(fd):
            if not isinstance(value, dict):
                return _wrong(fd, value, path, element=False, why=why)
            element_fd = message_of(fd).fields_by_name["value"]
            items: list[tuple[str, Any, Any]] = [
                (f"{path}.{key}", {key: item}, item) for key, item in value.items()
            ]
        else:
            if not isinstance(value, list):
                return _wrong(fd, value, path, element=False, why=why)
            element_fd = fd
            items = [(f"{path}[{i}]", [item], item) for i, item in enumerate(value)]
        for here, wrapped, item in items:
            item_why = _misfit(fd, wrapped)
            if item_why is None:
                continue
            if is_plain_message(element_fd) and isinstance(item, dict):
                found = locate_misfit(message_of(element_fd), item, here)
                if found is not None:
                    return found
            return _wrong(element_fd, item, here, element=True, why=item_why)
        return _wrong(fd, value, path, element=False, why=why)
    if is_plain_message(fd) and isinstance(value, dict):
        found = locate_misfit(message_of(fd), value, path)
        if found is not None:
            return found
    return _wrong(fd, value, path, element=True, why=why)
