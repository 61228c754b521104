"""RFC 6901 JSON Pointers: parsed, written, and resolved in a document (MISSING when absent)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def parse_pointer(text: str) -> tuple[str, ...]:
    """An RFC 6901 JSON Pointer's reference tokens; ValueError when it is not one."""
    if text == "":
        return ()
    if not text.startswith("/"):
        raise ValueError(f'{text!r} is not a JSON Pointer: it must be "" or start with "/"')
    tokens = text[1:].split("/")
    if any(re.search(r"~(?![01])", t) for t in tokens):
        raise ValueError(f"{text!r} is not a JSON Pointer: '~' must be written ~0 or ~1")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in tokens)


def resolve(document: Any, tokens: Iterable[str]) -> Any:
    """The value the tokens point at, or MISSING."""
    here = document
    for token in tokens:
        if isinstance(here, dict):
            if token not in here:
                return MISSING
            here = here[token]
        elif isinstance(here, list):
            if not _INDEX.match(token) or int(token) >= len(here):
                return MISSING
            here = here[int(token)]
        else:
            return MISSING
    return here


def pointer_text(tokens: tuple[str, ...]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)
