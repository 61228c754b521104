"""JSON that never rounds: numbers keep their exact text from parse to output."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson

from inlet.type.v1 import json_pb2

# orjson writes Python ints natively only inside the signed and unsigned 64-bit range.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


class Number(Decimal):
    """A JSON number that is not a plain int: a decimal (`0.1`, `1e-7`), or an integer
    beyond 64 bits or `-0`. Compares and computes as a Decimal; writes back as sent."""

    text: str

    def __new__(cls, text: str) -> Number:
        made = super().__new__(cls, text)
        made.text = text
        return made

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Number({self.text!r})"


def _parse_int(text: str) -> int | Number:
    if len(text) > 20:
        # Beyond 64 bits anyway; and int() refuses more than 4,300 digits.
        return Number(text)
    value = int(text)
    if text == "-0" or not _INT_MIN <= value <= _INT_MAX:
        return Number(text)
    return value


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are Python's extensions, not JSON.
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(
    parse_float=Number, parse_int=_parse_int, parse_constant=_refuse_constant
)


class DecodeError(ValueError):
    """Not JSON: the message says where (line and column)."""

    def __init__(self, msg: str, lineno: int, colno: int) -> None:
        super().__init__(f"{msg} (line {lineno}, column {colno})")
        self.msg = msg
        self.lineno = lineno
        self.colno = colno


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """The JSON document in `data`, ints as int, every other number as a Number.

    A string escape of half a UTF-16 surrogate pair (`"\\ud800"`) is refused like bad
    UTF-8: it is no Unicode text, so nothing downstream (UTF-8, PostgreSQL) can hold it."""
    try:
        text = bytes(data).decode("utf-8") if not isinstance(data, str) else data
    except UnicodeDecodeError as error:
        raise DecodeError(f"not UTF-8 ({error.reason})", 1, error.start + 1) from None
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise DecodeError(error.msg, error.lineno, error.colno) from None
    except ValueError as error:
        raise DecodeError(str(error), 1, 1) from None
    except RecursionError:
        raise DecodeError("nested too deeply", 1, 1) from None
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(text, value)
    if text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise DecodeError(f"nested deeper than {MAX_DEPTH} arrays or objects", 1, 1)
    return value


# Deeper documents are refused: inlet wraps values in a few levels of its own, and orjson
# (every answer, log line and stored value) writes at most 254.
MAX_DEPTH = 128


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether an array or object sits `limit` or more levels down. Walked a level at a
    time: a large flat document (a body of many items) costs a list per level, not a
    tuple per value."""
    level = [value]
    for depth in range(limit + 1):
        below: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                below.extend(item.values())
            elif isinstance(item, list):
                below.extend(item)
            else:
                continue
            if depth == limit:
                return True
        level = below
    return False


# Only an escape can put a surrogate in a decoded string (UTF-8 input cannot hold one).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_lone_surrogates(text: str, value: Any) -> None:
    where = _surrogate_path(value, "")
    if where is None:
        return  # every escape was a pair (or an escaped backslash before "u")
    position = next(
        (m.start() for m in _SURROGATE_ESCAPE.finditer(text) if _lone_at(text, m.start())), 0
    )
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)
    raise DecodeError(
        f"{where or 'the document'} holds an unpaired UTF-16 surrogate escape, not text",
        line,
        column,
    )


def _lone_at(text: str, at: int) -> bool:
    """Whether the escape at `at` is half a pair (and an escape: an odd run of backslashes)."""
    backslashes = len(text[:at]) - len(text[:at].rstrip("\\"))
    if backslashes % 2:
        return False
    unit = int(text[at + 2 : at + 6], 16)
    if unit >= 0xDC00:
        return not (at >= 6 and _high_before(text, at))
    follows = text[at + 6 : at + 12]
    return not (
        len(follows) == 6
        and follows[:2] in ("\\u", "\\U")
        and 0xDC00 <= _hex(follows[2:]) <= 0xDFFF
    )


def _high_before(text: str, at: int) -> bool:
    before = text[at - 6 : at]
    return before[:2] in ("\\u", "\\U") and 0xD800 <= _hex(before[2:]) <= 0xDBFF


def _hex(digits: str) -> int:
    try:
        return int(digits, 16)
    except ValueError:
        return -1


def _surrogate_path(value: Any, path: str) -> str | None:
    """The path of the first key or string of a parsed document holding a lone surrogate."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if _SURROGATE.search(key):
                return here.encode("utf-8", "backslashreplace").decode()
            found = _surrogate_path(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _surrogate_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _default(value: Any) -> Any:
    if isinstance(value, Number):
        return orjson.Fragment(value.text)
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f") if value.is_finite() else "null")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def number_or_text(text: str) -> Any:
    """`text` as the JSON number it spells (exactly), or the text itself when it is none."""
    stripped = text.strip()
    return loads(stripped) if _NUMBER.fullmatch(stripped) else text


def dumps(value: Any, *, sort_keys: bool = False, indent: bool = False) -> bytes:
    """`value` as compact JSON; a Number is written with the text it came with."""
    option = orjson.OPT_NON_STR_KEYS
    if indent:
        option |= orjson.OPT_INDENT_2
    if sort_keys:
        option |= orjson.OPT_SORT_KEYS
    return orjson.dumps(value, default=_default, option=option)


def dumps_text(value: Any) -> str:
    """dumps() as str, for drivers that take text (psycopg's jsonb dumper)."""
    return dumps(value).decode()


def to_raw(value: Any) -> json_pb2.RawJson:
    """A value for a RawJson field."""
    return json_pb2.RawJson(json=dumps(value).decode())


def from_raw(raw: json_pb2.RawJson, default: Any = None) -> Any:
    """The value of a RawJson field; `default` when the field was never set."""
    if not raw.json:
        return default
    return loads(raw.json)


def kind_of(value: Any) -> str:
    """A parsed JSON value's kind as error messages name it ("a string", "null", …)."""
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
