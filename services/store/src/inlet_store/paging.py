"""Page sizes and opaque page tokens of the stream and integration admin APIs."""

from __future__ import annotations

import base64
from datetime import datetime

from inlet_common.errors import InvalidArgument, Violation


def page_size(size: int) -> int:
    """The page size asked for: 50 when 0, at most 1000; negative is refused."""
    if size < 0:
        raise InvalidArgument(
            "page_size must not be negative",
            violations=[
                Violation("page_size", "page_size must not be negative", "INVALID_PAGE_SIZE")
            ],
        )
    return min(size or 50, 1000)


def encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def decode(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        raise bad_token() from None


def bad_token() -> InvalidArgument:
    message = "page_token is not one this API issued"
    return InvalidArgument(
        message, violations=[Violation("page_token", message, "INVALID_PAGE_TOKEN")]
    )


def as_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise bad_token() from None


def as_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad_token() from None
