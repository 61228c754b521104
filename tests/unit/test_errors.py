"""Error tree → google.rpc.Status → HTTP status, and config errors naming the key."""

from __future__ import annotations

import grpc
import pytest

from inlet.type.v1 import problem_pb2
from inlet_common.config import ConfigError, Env, ServiceSettings
from inlet_common.errors import (
    InvalidArgument,
    NotFound,
    UpstreamError,
    Violation,
    reason_of,
    unpack,
    violations_of,
)
from inlet_common.httpstatus import http_status
from inlet_matcher.errors import PayloadTooLarge
from inlet_store.errors import UniqueConflictError


def test_invalid_argument_carries_reason_and_violations() -> None:
    error = InvalidArgument(
        "bad", reason="VALIDATION_FAILED", violations=[Violation("fields.x", "no", "UNKNOWN_FIELD")]
    )
    status = error.to_status()
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert reason_of(status) == "VALIDATION_FAILED"
    assert violations_of(status) == [Violation("fields.x", "no", "UNKNOWN_FIELD")]


def test_unique_conflict_detail_round_trips_through_upstream_error() -> None:
    status = UniqueConflictError("record", [("email", "a@b.no", ["r1"])]).to_status()
    passed_on = UpstreamError(status)
    assert passed_on.code == grpc.StatusCode.FAILED_PRECONDITION
    assert passed_on.reason == "UNIQUE_CONFLICT"
    (detail,) = unpack(passed_on.to_status(), problem_pb2.UniqueConflict)
    assert isinstance(detail, problem_pb2.UniqueConflict)
    assert detail.matches[0].record_ids == ["r1"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (InvalidArgument("x"), 400),
        (UniqueConflictError("record", []), 400),
        (NotFound("x"), 404),
        (PayloadTooLarge("x"), 413),
    ],
)
def test_http_status_table(error: InvalidArgument, expected: int) -> None:
    status = error.to_status()
    assert http_status(status.code, reason_of(status)) == expected


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"INLET_GRPC_ADDR": "nohost"}, "INLET_GRPC_ADDR"),
        ({"INLET_METRICS_PORT": "x"}, "INLET_METRICS_PORT"),
        ({"INLET_LOG_LEVEL": "LOUD"}, "INLET_LOG_LEVEL"),
        ({"INLET_SHUTDOWN_GRACE_SECONDS": "-1"}, "INLET_SHUTDOWN_GRACE_SECONDS"),
    ],
)
def test_bad_config_names_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        ServiceSettings.from_env(Env(environ), "127.0.0.1:1")


def test_missing_required_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match="INLET_DATABASE_URL"):
        Env({}).text("INLET_DATABASE_URL")


def test_a_status_stays_small_enough_for_grpc_trailers_whatever_the_client_sent() -> None:
    name = "f" * 20_000
    many = [Violation(f"items[{i}].{name}", "x" * 5_000, "UNKNOWN_FIELD") for i in range(200)]
    status = InvalidArgument("m" * 50_000, violations=many).to_status()
    assert status.ByteSize() < 6 * 1024
    listed = violations_of(status)
    assert listed
    assert listed[0].field.startswith("items[0].fff")
    assert listed[0].field.endswith("…")
    assert status.message.endswith("…")
