"""A message as JSON shows it: proto3 JSON, every RawJson field written as its value."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from google.protobuf import descriptor, json_format, message

from inlet.type.v1 import json_pb2
from inlet_common import exactjson

RAW_JSON = "inlet.type.v1.RawJson"


def to_json(response: message.Message, *, parsed: bool = False) -> Any:
    """proto3 JSON (proto field names); every RawJson is its value, exactly as stored:
    an orjson.Fragment to write out, or with `parsed` the value itself (exactjson)."""
    payload = json_format.MessageToDict(response, preserving_proto_field_name=True)
    if holds_raw(response.DESCRIPTOR):
        _embed(response, payload, parsed)
    return payload


@cache
def holds_raw(desc: descriptor.Descriptor, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a message of this type can contain a RawJson anywhere (cached per type)."""
    if desc.full_name == RAW_JSON:
        return True
    for fd in desc.fields:
        inner = fd.message_type
        if inner is None or inner.full_name in seen:
            continue
        if holds_raw(inner, seen | {desc.full_name}):
            return True
    return False


def _raw(value: message.Message, parsed: bool) -> Any:
    assert isinstance(value, json_pb2.RawJson)
    if not value.json:
        return None
    return exactjson.loads(value.json) if parsed else orjson.Fragment(value.json)


def _embed(msg: message.Message, payload: dict[str, Any], parsed: bool) -> None:
    for fd, value in msg.ListFields():
        inner = fd.message_type
        if inner is None or not holds_raw(inner):
            continue
        key = fd.name
        if inner.GetOptions().map_entry:
            value_fd = inner.fields_by_name["value"]
            if value_fd.message_type is None or not holds_raw(value_fd.message_type):
                continue
            for map_key, item in value.items():
                payload[key][str(map_key)] = _one(item, payload[key][str(map_key)], parsed)
        elif fd.is_repeated:
            shown = payload[key]
            payload[key] = [_one(item, s, parsed) for item, s in zip(value, shown, strict=True)]
        else:
            payload[key] = _one(value, payload[key], parsed)


def _one(value: message.Message, shown: Any, parsed: bool) -> Any:
    if value.DESCRIPTOR.full_name == RAW_JSON:
        return _raw(value, parsed)
    _embed(value, shown, parsed)
    return shown
