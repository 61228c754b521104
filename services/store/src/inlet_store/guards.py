"""Rate limits and Idempotency-Key errors shared by the dialects the store serves.

inlet_common.errors.InletError
├── ResourceExhausted ── RateLimited              (429, RetryInfo + RateLimitState)
└── FailedPrecondition ── IdempotencyKeyReused    (422: same key, different body; endpoint push)
"""

from __future__ import annotations

from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from psycopg.pq import TransactionStatus

from inlet.store.v1 import store_pb2
from inlet_common import idempotency
from inlet_common.errors import FailedPrecondition, InvalidArgument, ResourceExhausted, Violation
from inlet_store import repository as repo

# Rate settings of every credential (endpoints, ingest keys): 6000 per 60 s unless set;
# the bounds match the CHECKs of ingest_endpoints (migration 0005).
DEFAULT_RATE_LIMIT = 6000
DEFAULT_RATE_WINDOW = 60
RATE_LIMIT_RANGE = (1, 1_000_000)
RATE_WINDOW_RANGE = (1, 86_400)


def check_rate_settings(resource: str, limit: int | None, window: int | None) -> None:
    """Refuse, naming every bad one, rate settings out of bounds (None: not being set)."""
    rules: list[str] = []
    problems: list[Violation] = []
    for field, value, (low, high) in (
        (f"{resource}.rate_limit", limit, RATE_LIMIT_RANGE),
        (f"{resource}.rate_window_seconds", window, RATE_WINDOW_RANGE),
    ):
        if value is not None and not low <= value <= high:
            rules.append(f"{field} must be between {low} and {high}")
            problems.append(Violation(field, f"{value} is out of range", "INVALID_RATE"))
    if problems:
        raise InvalidArgument("; ".join(rules), violations=problems)


def check_idempotency_key(key: str, refusal: type[InvalidArgument]) -> None:
    """Refuse an over-long Idempotency-Key with the dialect's own INVALID_ARGUMENT class."""
    problem = idempotency.key_problem(key)
    if problem:
        raise refusal(problem, violations=[Violation("Idempotency-Key", "too long", "TOO_LONG")])


class RateLimited(ResourceExhausted):
    reason = "RATE_LIMITED"

    def __init__(self, state: store_pb2.RateLimitState) -> None:
        super().__init__(
            f"rate limit of {state.limit} requests per {state.window_seconds}s reached;"
            f" retry after {state.reset_seconds}s",
            details=[
                error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(seconds=state.reset_seconds)
                ),
                state,
            ],
        )


class IdempotencyKeyReused(FailedPrecondition):
    reason = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, ttl_seconds: int) -> None:
        super().__init__(
            "this Idempotency-Key was used with a different request body in the last"
            f" {max(1, ttl_seconds // 3600)} h; use a new key for new data"
        )


async def hit_rate_limit(
    conn: repo.Conn, subject: str, *, limit: int, window_seconds: int
) -> store_pb2.RateLimitState:
    """Count one request against `subject`'s fixed window; RateLimited past the limit."""
    # Outside a transaction the hit commits on its own, without waiting for the disk (see
    # hit_rate_window_async); inside one, it must not change how the caller's commit is made.
    alone = conn.info.transaction_status == TransactionStatus.IDLE
    query = "hit_rate_window_async" if alone else "hit_rate_window"
    hit = await repo.row(conn, query, subject=subject, window=window_seconds)
    assert hit is not None
    if hit["hits"] == 1:
        # A new window: the subject's older ones are dead weight.
        await repo.execute(conn, "prune_rate_windows", subject=subject, window=window_seconds)
    state = store_pb2.RateLimitState(
        limit=limit,
        remaining=max(0, limit - hit["hits"]),
        reset_seconds=hit["reset_seconds"],
        window_seconds=window_seconds,
    )
    if hit["hits"] > limit:
        raise RateLimited(state)
    return state


EXPIRED_TABLES = (
    "stream_idempotency_keys",
    "endpoint_idempotency_keys",
    "push_idempotency_keys",
    "rate_windows",
)


async def expire(conn: repo.Conn) -> dict[str, int]:
    """Drop Idempotency-Keys past their expiry and rate windows long over; rows per table."""
    return {
        "stream_idempotency_keys": await repo.execute(conn, "prune_idempotency_keys"),
        "endpoint_idempotency_keys": await repo.execute(conn, "prune_endpoint_idempotency_keys"),
        "push_idempotency_keys": await repo.execute(conn, "prune_push_idempotency_keys"),
        "rate_windows": await repo.execute(conn, "prune_all_rate_windows"),
    }
