"""Protobuf fields as JSON sees them: names, dotted paths, well-known types, expected forms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from google.protobuf import descriptor, message

WELL_KNOWN = {
    "google.protobuf.Struct": "an object",
    "google.protobuf.Value": "any JSON value",
    "google.protobuf.ListValue": "an array",
    "google.protobuf.Timestamp": 'an RFC 3339 timestamp string, e.g. "2024-01-31T12:00:00Z"',
    "google.protobuf.Duration": 'a duration string, e.g. "1.5s"',
    "google.protobuf.FieldMask": 'a field mask string, e.g. "a,b.c"',
    "google.protobuf.Any": 'an object with "@type"',
    "google.protobuf.Empty": "an empty object",
}


_SCALAR_WRAPPERS = {
    "google.protobuf.DoubleValue": "a number",
    "google.protobuf.FloatValue": "a number",
    "google.protobuf.Int64Value": "an integer",
    "google.protobuf.UInt64Value": "an integer",
    "google.protobuf.Int32Value": "an integer",
    "google.protobuf.UInt32Value": "an integer",
    "google.protobuf.BoolValue": "true or false",
    "google.protobuf.StringValue": "a string",
    "google.protobuf.BytesValue": "a base64 string",
}


WELL_KNOWN.update(_SCALAR_WRAPPERS)
# Messages a query parameter can set: those whose JSON form is one string or scalar.
QUERY_MESSAGES = {
    *_SCALAR_WRAPPERS,
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
}


_FD = descriptor.FieldDescriptor
_SCALAR_KINDS = {
    _FD.TYPE_STRING: "a string",
    _FD.TYPE_BOOL: "true or false",
    _FD.TYPE_BYTES: "a base64 string",
    _FD.TYPE_DOUBLE: "a number",
    _FD.TYPE_FLOAT: "a number",
}


def descriptor_of(msg: message.Message) -> descriptor.Descriptor:
    # The stubs type DESCRIPTOR as a union with upb's class, which has the same surface.
    return cast(descriptor.Descriptor, msg.DESCRIPTOR)


def message_of(fd: descriptor.FieldDescriptor) -> descriptor.Descriptor:
    assert fd.message_type is not None, fd.full_name
    return fd.message_type


def is_map(fd: descriptor.FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def is_plain_message(fd: descriptor.FieldDescriptor) -> bool:
    """A message field whose JSON form is an object of its fields (not a well-known type)."""
    return fd.message_type is not None and fd.message_type.full_name not in WELL_KNOWN


def expected_json(fd: descriptor.FieldDescriptor, *, element: bool = False) -> str:
    if not element:
        if is_map(fd):
            return "an object"
        if fd.is_repeated:
            return "an array"
    if fd.message_type is not None:
        return WELL_KNOWN.get(fd.message_type.full_name, "an object")
    if fd.enum_type is not None:
        names = ", ".join(v.name for v in fd.enum_type.values)
        return f"one of {names}"
    return _SCALAR_KINDS.get(fd.type, "an integer")


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def field_named(msg: descriptor.Descriptor, name: str) -> descriptor.FieldDescriptor | None:
    found = msg.fields_by_name.get(name)
    if found is not None:
        return found
    for candidate in msg.fields:
        if candidate.json_name == name:
            return candidate
    return None


def resolve_path(
    msg: descriptor.Descriptor, parts: Sequence[str], *, leaf_scalar: bool
) -> list[descriptor.FieldDescriptor]:
    """The fields along a dotted path; raises KeyError naming the first unknown part."""
    chain: list[descriptor.FieldDescriptor] = []
    current: descriptor.Descriptor | None = msg
    for index, part in enumerate(parts):
        if current is None or current.full_name in WELL_KNOWN:
            raise KeyError(".".join(parts[: index + 1]))
        found = field_named(current, part)
        if found is None:
            raise KeyError(".".join(parts[: index + 1]))
        last = index == len(parts) - 1
        if not last and (found.is_repeated or found.message_type is None):
            raise KeyError(".".join(parts[: index + 1]))
        if last and leaf_scalar and is_map(found):
            raise KeyError(".".join(parts))
        chain.append(found)
        current = found.message_type
    return chain
