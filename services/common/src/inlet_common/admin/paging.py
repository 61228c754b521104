"""Page sizes and opaque page tokens of every admin list (AIP-158).

A token names the list that issued it (`kind`) and a digest of that list's parent and
filter (`scope`), so a token handed to another list, parent or filter is refused the same
way as an unreadable one: INVALID_ARGUMENT naming `page_token`."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

import orjson

from inlet_common.errors import InvalidArgument, Violation

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_VERSION = 1
_BAD_TOKEN = "page_token is not one this list issued for this parent and filter"

Cursor = str | int | datetime


def page_size(size: int) -> int:
    """The page size asked for: DEFAULT_PAGE_SIZE for 0, at most MAX_PAGE_SIZE; negative
    is refused naming page_size."""
    if size < 0:
        message = "page_size must not be negative"
        raise InvalidArgument(
            message, violations=[Violation("page_size", message, "INVALID_PAGE_SIZE")]
        )
    return min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def bad_token() -> InvalidArgument:
    return InvalidArgument(
        _BAD_TOKEN, violations=[Violation("page_token", _BAD_TOKEN, "INVALID_PAGE_TOKEN")]
    )


class PageTokens:
    """The tokens of one list (`kind`) over one parent and filter (`scope`)."""

    def __init__(self, kind: str, *scope: object) -> None:
        self.kind = kind
        self.scope = hashlib.sha256(repr(scope).encode()).hexdigest()[:16]

    def encode(self, *cursor: Cursor) -> str:
        """The token of the page after the row at `cursor` (its sort key)."""
        values = [c.isoformat() if isinstance(c, datetime) else c for c in cursor]
        raw = orjson.dumps([_VERSION, self.kind, self.scope, *values])
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode(self, token: str, count: int) -> list[str | int] | None:
        """The cursor of `token` (`count` values), None for the first page."""
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            found = orjson.loads(raw)
        except (ValueError, binascii.Error, orjson.JSONDecodeError):
            raise bad_token() from None
        if (
            not isinstance(found, list)
            or found[:3] != [_VERSION, self.kind, self.scope]
            or len(found) != 3 + count
            or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in found[3:])
        ):
            raise bad_token()
        return found[3:]

    def page(
        self, found: Sequence[T], limit: int, cursor: Callable[[T], Sequence[Cursor]]
    ) -> tuple[list[T], str]:
        """The first `limit` of `found` (fetched `limit + 1`) and the next page's token
        (empty on the last page)."""
        page = list(found[:limit])
        more = len(found) > limit
        return page, self.encode(*cursor(page[-1])) if more else ""


def as_time(value: str | int) -> datetime:
    """A cursor value written from a datetime."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise bad_token()


def as_int(value: str | int) -> int:
    if isinstance(value, int):
        return value
    raise bad_token()


def as_text(value: str | int) -> str:
    if isinstance(value, str):
        return value
    raise bad_token()
