"""The notifier's errors, and the one place driver errors become domain errors.

inlet_common.errors.InletError
├── InvalidArgument ── BadWebhookUrl, PrivateTarget
├── NotFound
├── PermissionDenied                    (a resource of another workspace)
├── Unauthenticated
└── Unavailable                         (database unreachable)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg import errors as pg

from inlet_common.errors import InletError, InvalidArgument, NotFound, PermissionDenied, Unavailable

__all__ = ["BadWebhookUrl", "PermissionDenied", "PrivateTarget", "wrap_exceptions"]


class BadWebhookUrl(InvalidArgument):
    reason = "INVALID_WEBHOOK_URL"


class PrivateTarget(InvalidArgument):
    reason = "WEBHOOK_TARGET_PRIVATE"


@asynccontextmanager
async def wrap_exceptions() -> AsyncIterator[None]:
    """Translate psycopg errors into the notifier's errors (the only place that does)."""
    try:
        yield
    except InletError:
        raise
    except (pg.InvalidTextRepresentation, pg.ForeignKeyViolation) as error:
        raise NotFound("no such resource") from error
    except psycopg.OperationalError as error:
        raise Unavailable("database unavailable") from error
