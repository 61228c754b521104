"""Fuzzing in tests: Hypothesis settings scaled by INLET_FUZZ_EXAMPLES (small in CI, large
under `make fuzz`), and strategies for the raw request bodies a parser must survive."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Examples per property; `make fuzz` raises it so the whole run tries >= 100,000 cases.
EXAMPLES = int(os.environ.get("INLET_FUZZ_EXAMPLES", "60"))


def fuzz_settings(scale: float = 1.0, at_least: int = 1) -> settings:
    """Settings for one property: EXAMPLES x `scale` examples (`at_least` of them), no
    deadline (a loaded CI machine is slow), no example database (every run starts from the
    same seed), every health check off (generated inputs are big on purpose)."""
    return settings(
        max_examples=max(at_least, int(EXAMPLES * scale)),
        deadline=None,
        database=None,
        derandomize=os.environ.get("INLET_FUZZ_RANDOM", "") == "",
        suppress_health_check=list(HealthCheck),
    )


# Strings with what breaks storage and parsers: NUL, controls, non-BMP, RTL, combining marks.
odd_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\x00", "\u202e", "\ufeff", "\U0001f600", "\u0301", "\n", '"', "\\"]),
    ),
    max_size=40,
)

# JSON numbers as text, the ones that stretch parsers: huge, tiny, negative zero, long.
number_text = st.one_of(
    st.integers().map(str),
    st.sampled_from(
        [
            "-0",
            "1e999999",
            "-1E+400",
            "1e-999999",
            "9" * 5000,
            "0." + "0" * 3000 + "1",
            "18446744073709551616",
            "-9223372036854775809",
            "1.0",
            "1e3",
            "123456789012345678901234567890.5",
        ]
    ),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
)

json_leaf: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), odd_text, number_text.map(lambda t: _Raw(t))
)


class _Raw:
    """A JSON fragment written as it is (a number's exact text)."""

    def __init__(self, text: str) -> None:
        self.text = text


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(
        json_leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(odd_text, inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def encode(value: Any) -> bytes:
    """A generated value as JSON text (strings escaped by hand, so NUL stays \\u0000)."""
    if isinstance(value, _Raw):
        return value.text.encode()
    if value is None:
        return b"null"
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return b"[" + b",".join(encode(v) for v in value) + b"]"
    assert isinstance(value, dict)
    return b"{" + b",".join(_string(k) + b":" + encode(v) for k, v in value.items()) + b"}"


def _string(text: str) -> bytes:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out).encode("utf-8", "surrogatepass")


# Raw-byte mutations a generic client cannot express: escapes PostgreSQL cannot store,
# lone surrogates, bad UTF-8, deep nesting, duplicate keys, truncation.
special_fragments = st.sampled_from(
    [
        b'"\\u0000"',
        b'"a\\u0000b"',
        b'"\\ud800"',
        b'"\\udfff x"',
        b'"\\ud83d\\ude00"',
        b'"\xff\xfe"',
        b'"\xc3\x28"',
        b'"\xed\xa0\x80"',
        b"1e999999",
        b"9" * 6000,
        b"-0",
        b"[" * 300 + b"]" * 300,
        b"[" * 2000 + b"]" * 2000,
        b'{"a":' * 300 + b"1" + b"}" * 300,
        b"NaN",
        b"Infinity",
        b'"' + b"x" * 5000 + b'"',
        b'"' + b"1" * 9000 + b'"',
    ]
)


def body_around(template: bytes) -> st.SearchStrategy[bytes]:
    """Bodies near a valid `template` (one `@` placeholder): a fragment or value put in its
    place, duplicate keys, truncation, stray bytes, or nothing but random bytes."""
    filled = st.one_of(special_fragments, json_values().map(encode)).map(
        lambda part: template.replace(b"@", part, 1)
    )
    return st.one_of(
        filled,
        filled.flatmap(lambda b: st.integers(0, max(len(b) - 1, 0)).map(lambda n: b[:n])),
        filled.map(lambda b: b.replace(b"{", b'{"dup":1,"dup":2,', 1)),
        st.tuples(filled, st.binary(max_size=8), st.integers(0, 64)).map(
            lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
        ),
        st.binary(max_size=64),
        json_values(30).map(encode),
    )
