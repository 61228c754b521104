"""U+0000 (NUL) is refused wherever a string comes in: PostgreSQL text and json cannot hold it."""

from __future__ import annotations

from typing import Any

from google.protobuf import message

from inlet_common.errors import InvalidArgument, Violation

NUL = "\x00"
# The per-field code of a string that holds U+0000.
NUL_CHARACTER = "NUL_CHARACTER"


def shown(text: str) -> str:
    """`text` with each NUL written as \\u0000, so a path or message can be logged and stored."""
    return text.replace(NUL, "\\u0000")


def in_json(value: Any, path: str) -> str | None:
    """The path of the first key or string of a parsed JSON document holding a NUL."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{shown(key)}" if path else shown(key)
            if NUL in key:
                return here
            found = in_json(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = in_json(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def in_message(msg: message.Message, path: str = "") -> str | None:
    """The path of the first string field (map keys included) of a message holding a NUL."""
    for fd, value in msg.ListFields():
        here = f"{path}.{fd.name}" if path else fd.name
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            found = _in_map(value, here)
        elif fd.is_repeated:
            found = _in_items(value, here)
        else:
            found = _in_value(value, here)
        if found is not None:
            return found
    return None


def _in_value(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, message.Message):
        return in_message(value, path)
    return None


def _in_items(values: Any, path: str) -> str | None:
    for index, value in enumerate(values):
        found = _in_value(value, f"{path}[{index}]")
        if found is not None:
            return found
    return None


def _in_map(values: Any, path: str) -> str | None:
    for key, value in values.items():
        here = f"{path}.{shown(str(key))}"
        if isinstance(key, str) and NUL in key:
            return here
        found = _in_value(value, here)
        if found is not None:
            return found
    return None


def refusal(path: str) -> InvalidArgument:
    """The error for a string at `path` that holds a NUL."""
    text = f"{path} contains U+0000 (NUL), which cannot be stored"
    return InvalidArgument(text, violations=[Violation(path, text, NUL_CHARACTER)])


def refuse_in_message(msg: message.Message) -> None:
    """Raise INVALID_ARGUMENT naming the first string field of `msg` that holds a NUL."""
    path = in_message(msg)
    if path is not None:
        raise refusal(path)
