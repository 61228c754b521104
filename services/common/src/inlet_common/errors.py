"""The root of every service's error tree, and its google.rpc.Status form.

    InletError                      INTERNAL
    ├── InvalidArgument             INVALID_ARGUMENT   (bad input; names each field)
    ├── NotFound                    NOT_FOUND
    ├── AlreadyExists               ALREADY_EXISTS
    ├── FailedPrecondition          FAILED_PRECONDITION
    ├── Aborted                     ABORTED            (lost a race; retry)
    ├── ResourceExhausted           RESOURCE_EXHAUSTED
    ├── Unauthenticated             UNAUTHENTICATED
    ├── PermissionDenied            PERMISSION_DENIED  (a credential for something else)
    ├── Unavailable                 UNAVAILABLE
    └── UpstreamError               whatever another service answered, passed on as is

Services subclass these; one interceptor (grpcserver) turns them into statuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import google.rpc.code_pb2 as code_pb2
import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
from google.protobuf import any_pb2, message

from inlet.type.v1 import problem_pb2

ERROR_DOMAIN = "inlet.dev"
STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class Violation:
    """One bad field: its path (e.g. "fields.email"), a message, and a stable code."""

    field: str
    description: str
    reason: str

    def as_json(self) -> dict[str, str]:
        """As every JSON body and log shows a bad field."""
        return {"field": self.field, "code": self.reason, "message": self.description}


class InletError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        violations: Sequence[Violation] = (),
        details: Iterable[message.Message] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.violations = tuple(violations)
        self.details = tuple(details)

    def to_status(self) -> status_pb2.Status:
        packed: list[message.Message] = [
            error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN)
        ]
        if self.violations:
            packed.append(_bounded_violations(self.violations))
        packed.extend(self.details)
        status = status_pb2.Status(
            code=self.code.value[0], message=clip(self.message, MAX_MESSAGE_CHARS)
        )
        for detail in packed:
            any_detail = any_pb2.Any()
            any_detail.Pack(detail)
            status.details.append(any_detail)
        return status


# A status crosses gRPC as trailing metadata, which gRPC caps (8 KiB soft, 16 KiB hard): a
# client's 20,000-character field name must come back clipped, not as RESOURCE_EXHAUSTED.
MAX_MESSAGE_CHARS = 1024
MAX_FIELD_CHARS = 200
MAX_DESCRIPTION_CHARS = 300
VIOLATIONS_BUDGET_BYTES = 4608


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bounded_violations(violations: Sequence[Violation]) -> error_details_pb2.BadRequest:
    """The violations, each clipped, as many as fit the budget (the first ones: in order)."""
    found = error_details_pb2.BadRequest()
    size = 0
    for v in violations:
        entry = error_details_pb2.BadRequest.FieldViolation(
            field=clip(v.field, MAX_FIELD_CHARS),
            description=clip(v.description, MAX_DESCRIPTION_CHARS),
            reason=v.reason,
        )
        size += entry.ByteSize()
        if found.field_violations and size > VIOLATIONS_BUDGET_BYTES:
            break
        found.field_violations.append(entry)
    return found


class InvalidArgument(InletError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"


class NotFound(InletError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(InletError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class FailedPrecondition(InletError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class Aborted(InletError):
    code = grpc.StatusCode.ABORTED
    reason = "ABORTED"


class ResourceExhausted(InletError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RESOURCE_EXHAUSTED"


class Unauthenticated(InletError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PermissionDenied(InletError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class Unavailable(InletError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


class UpstreamError(InletError):
    """An error answered by another service, re-raised with its status unchanged."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.status = status
        self.code = grpc_code(status.code)
        self.reason = reason_of(status)

    def to_status(self) -> status_pb2.Status:
        return self.status


_CODES = {c.value[0]: c for c in grpc.StatusCode}


def grpc_code(value: int) -> grpc.StatusCode:
    """The grpc.StatusCode of a google.rpc code number (UNKNOWN for one it does not know)."""
    return _CODES.get(value, grpc.StatusCode.UNKNOWN)


def status_from_rpc_error(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The rich status of a failed call, or a plain one built from code and details."""
    trailing: Any = error.trailing_metadata() or ()
    for key, value in trailing:
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return status_pb2.Status(code=error.code().value[0], message=error.details() or "")


def unpack(status: status_pb2.Status, kind: type[message.Message]) -> list[message.Message]:
    """The details of `status` that are of type `kind`."""
    found: list[message.Message] = []
    for detail in status.details:
        if detail.TypeName() == kind.DESCRIPTOR.full_name:
            item = kind()
            detail.Unpack(item)
            found.append(item)
    return found


def reason_of(status: status_pb2.Status) -> str:
    """The ErrorInfo reason of a status, or the name of its code."""
    for info in unpack(status, error_details_pb2.ErrorInfo):
        assert isinstance(info, error_details_pb2.ErrorInfo)
        return str(info.reason)
    return str(code_pb2.Code.Name(status.code))


def violations_of(status: status_pb2.Status) -> list[Violation]:
    """The field violations carried by a status."""
    found: list[Violation] = []
    for bad in unpack(status, error_details_pb2.BadRequest):
        assert isinstance(bad, error_details_pb2.BadRequest)
        found.extend(Violation(v.field, v.description, v.reason) for v in bad.field_violations)
    return found


def conflicts_of(status: status_pb2.Status) -> list[dict[str, Any]]:
    """The UniqueConflict details of a status, one JSON object per field that matched."""
    return [
        {"entity": c.entity, "field": m.field, "value": m.value, "record_ids": list(m.record_ids)}
        for c in unpack(status, problem_pb2.UniqueConflict)
        if isinstance(c, problem_pb2.UniqueConflict)
        for m in c.matches
    ]


def describe(error: InletError) -> dict[str, Any]:
    """An error as the activity log keeps it: code, message, fields and conflicts."""
    status = error.to_status()
    body: dict[str, Any] = {"code": error.reason, "message": status.message}
    violations = violations_of(status)
    if violations:
        body["errors"] = [v.as_json() for v in violations]
    conflicts = conflicts_of(status)
    if conflicts:
        body["conflicts"] = conflicts
    return body
