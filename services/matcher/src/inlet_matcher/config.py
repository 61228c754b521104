"""The matcher's configuration, from INLET_* environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inlet_common.config import (
    DEFAULT_EXTERNAL_PROBLEM_BASE,
    Env,
    ServiceSettings,
    external_problem_base,
)


@dataclass(frozen=True)
class MatcherConfig:
    service: ServiceSettings
    store_addr: str
    store_timeout_seconds: float
    stream_workers: int = 4
    stream_lease_seconds: int = 30
    # How long a worker's claim waits in the store for work (NOTIFY ends it early, and so
    # does the first lease running out): an idle matcher's one call per worker this often.
    stream_poll_seconds: float = 30.0
    push_sync_max_seconds: float = 300.0
    # The integration dialect's problem `type` base (its errors are rendered here).
    external_problem_base: str = DEFAULT_EXTERNAL_PROBLEM_BASE
    # Test-only (inlet_matcher.hold): pause the workers after this many chunks; 0: never.
    hold_after_chunks: int = 0
    hold_file: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MatcherConfig:
        env = Env(environ)
        return cls(
            service=ServiceSettings.from_env(env, "127.0.0.1:50051"),
            store_addr=env.address("INLET_STORE_ADDR", "127.0.0.1:50052"),
            store_timeout_seconds=env.number("INLET_STORE_TIMEOUT_SECONDS", 10.0, minimum=0.1),
            stream_workers=env.integer("INLET_STREAM_WORKERS", 4, minimum=0, maximum=256),
            stream_lease_seconds=env.integer(
                "INLET_STREAM_LEASE_SECONDS", 30, minimum=1, maximum=3600
            ),
            stream_poll_seconds=env.number(
                "INLET_STREAM_POLL_SECONDS", cls.stream_poll_seconds, minimum=0.01
            ),
            push_sync_max_seconds=env.number("INLET_PUSH_SYNC_MAX_SECONDS", 300.0, minimum=0.1),
            external_problem_base=external_problem_base(env),
            hold_after_chunks=env.integer("INLET_TEST_HOLD_AFTER_CHUNKS", 0, minimum=0),
            hold_file=env.text("INLET_TEST_HOLD_FILE", ""),
        )
