"""The store's errors, and the one place driver errors become domain errors.

inlet_common.errors.InletError
├── InvalidArgument ── MissingRequired, DanglingReference
├── NotFound
├── AlreadyExists
├── Unauthenticated                             (admin API: missing or unknown token)
├── PermissionDenied                            (admin API: another workspace's token)
├── FailedPrecondition ── UniqueConflictError   (nothing changed)
├── Aborted ── KeyRace                          (lost a unique-key race; retried)
└── Unavailable                                 (database unreachable)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg import errors as pg

from inlet.type.v1 import problem_pb2
from inlet_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InletError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "AlreadyExists",
    "DanglingReference",
    "InvalidArgument",
    "KeyRace",
    "MissingRequired",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "UniqueConflictError",
    "wrap_exceptions",
]


class MissingRequired(InvalidArgument):
    reason = "REQUIRED_FIELD_MISSING"


class DanglingReference(InvalidArgument):
    reason = "UNKNOWN_REFERENCE"


class UniqueConflictError(FailedPrecondition):
    reason = "UNIQUE_CONFLICT"

    def __init__(self, entity: str, matches: list[tuple[str, str, list[str]]]) -> None:
        described = "; ".join(f"{f}={v!r} → {', '.join(ids)}" for f, v, ids in matches)
        detail = problem_pb2.UniqueConflict(
            entity=entity,
            matches=[
                problem_pb2.UniqueMatch(field=f, value=v, record_ids=ids) for f, v, ids in matches
            ],
        )
        super().__init__(
            f"unique fields of {entity} match different records ({described}); nothing changed",
            details=[detail],
        )


class KeyRace(Aborted):
    reason = "UNIQUE_KEY_RACE"


@asynccontextmanager
async def wrap_exceptions() -> AsyncIterator[None]:
    """Translate psycopg errors into the store's errors (the only place that does)."""
    try:
        yield
    except InletError:
        raise
    except pg.UniqueViolation as error:
        if error.diag.table_name == "record_keys":
            raise KeyRace("another request wrote the same unique value first") from error
        raise AlreadyExists(_constraint_message(error)) from error
    except pg.SerializationFailure as error:
        raise KeyRace("concurrent update; retry") from error
    except pg.ForeignKeyViolation as error:
        raise NotFound(_constraint_message(error)) from error
    except psycopg.OperationalError as error:
        raise Unavailable("database unavailable") from error


def _constraint_message(error: psycopg.Error) -> str:
    return (
        f"{error.diag.table_name or 'row'} violates {error.diag.constraint_name or 'a constraint'}"
    )
