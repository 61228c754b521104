"""The store's errors, and the one place driver errors become domain errors.

inlet_common.errors.InletError
├── InvalidArgument ── MissingRequired, DanglingReference, ValidationFailed
├── NotFound
├── AlreadyExists
├── Unauthenticated                             (admin API: missing or unknown token)
├── PermissionDenied                            (admin API: another workspace's token)
├── FailedPrecondition ── UniqueConflictError   (nothing changed)
├── Aborted ── KeyRace                          (lost a unique-key race; retried)
└── Unavailable                                 (database unreachable)
"""

from __future__ import annotations

import re
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
    Violation,
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
    "ValidationFailed",
    "wrap_exceptions",
]


class MissingRequired(InvalidArgument):
    reason = "REQUIRED_FIELD_MISSING"


class DanglingReference(InvalidArgument):
    reason = "UNKNOWN_REFERENCE"


class ValidationFailed(InvalidArgument):
    """Values the matcher could not judge alone (a unique value too long to index)."""

    reason = "VALIDATION_FAILED"


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
        raise _already_exists(error) from error
    except pg.SerializationFailure as error:
        raise KeyRace("concurrent update; retry") from error
    except pg.ForeignKeyViolation as error:
        raise NotFound(
            f"the {_resource(error.diag.table_name)} refers to something that does not exist"
        ) from error
    except pg.ProgramLimitExceeded as error:
        # A value over one of PostgreSQL's size limits: the request, not the database.
        raise InvalidArgument(
            "a value is too large for the database to store", reason="VALUE_TOO_LARGE"
        ) from error
    except psycopg.OperationalError as error:
        raise Unavailable("database unavailable") from error


# Unique constraints a request can hit, by name: the resource, the field of the request
# that holds the taken value (and how a person calls it), the column that stores it, and
# where it must be unique. Messages never show a constraint name: that is the schema's.
_UNIQUE: dict[str, tuple[str, str, str, str, str]] = {
    "workspaces_slug_key": ("a workspace", "workspace.slug", "slug", "slug", ""),
    "entity_types_workspace_id_slug_key": (
        "an entity type",
        "entity_type.slug",
        "slug",
        "slug",
        " in this workspace",
    ),
    "fields_pkey": ("a field", "field.slug", "slug", "slug", " on this entity type"),
    "streams_workspace_id_slug_key": ("a stream", "stream_id", "id", "slug", " in this workspace"),
    "integrations_workspace_id_slug_key": (
        "an integration",
        "integration_id",
        "id",
        "slug",
        " in this workspace",
    ),
}
_DETAIL = re.compile(r"^Key \((?P<columns>.*)\)=\((?P<values>.*)\) already exists\.?$")


def _already_exists(error: pg.UniqueViolation) -> AlreadyExists:
    """A unique violation as the API names it: resource, field and the taken value."""
    known = _UNIQUE.get(error.diag.constraint_name or "")
    if known is None:
        return AlreadyExists(f"this {_resource(error.diag.table_name)} already exists")
    resource, field, label, column, scope = known
    value = _taken_value(error.diag.message_detail or "", column)
    shown = f" {value!r}" if value is not None else ""
    message = f"{resource} with {label}{shown} already exists{scope}"
    return AlreadyExists(message, violations=[Violation(field, message, "ALREADY_EXISTS")])


def _taken_value(detail: str, column: str) -> str | None:
    """The value of `column` in PostgreSQL's 'Key (a, b)=(x, y) already exists.'"""
    found = _DETAIL.match(detail)
    if found is None:
        return None
    columns = found["columns"].split(", ")
    values = found["values"].split(", ")
    if len(columns) != len(values) or column not in columns:
        return None
    return values[columns.index(column)]


def _resource(table: str | None) -> str:
    """A table as the API calls its rows: entity_types → entity type."""
    return (table or "resource").removesuffix("s").replace("_", " ")
