"""Resource names such as workspaces/{w}/streams/{s}: parsed and written one way."""

from __future__ import annotations

from inlet_common.errors import InvalidArgument, Violation


def parts(field: str, name: str, *collections: str) -> list[str]:
    """The ids of a resource name such as workspaces/{w}/streams/{s}; INVALID_ARGUMENT
    naming `field` when it has another shape."""
    pieces = name.split("/")
    if len(pieces) != 2 * len(collections) or any(
        pieces[2 * i] != c or not pieces[2 * i + 1] for i, c in enumerate(collections)
    ):
        pattern = "/".join(f"{c}/{{{_singular(c)}}}" for c in collections)
        message = f"{field} must look like {pattern}, got {name!r}"
        raise InvalidArgument(message, violations=[Violation(field, message, "INVALID_NAME")])
    return pieces[1::2]


def name(*segments: str) -> str:
    """The resource name of collection/id pairs: name("workspaces", w, "streams", s)."""
    assert len(segments) % 2 == 0, segments
    return "/".join(segments)


def _singular(collection: str) -> str:
    return collection[:-1] if collection.endswith("s") else collection
