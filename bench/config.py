"""Benchmark settings from INLET_BENCH_* environment variables (bad values name their key)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from inlet_common.config import Env
from inlet_store.config import StoreConfig


@dataclass(frozen=True)
class Settings:
    requests: int  # measured operations per scenario
    concurrency: int  # operations in flight
    warmup: int  # operations run first and not counted
    seed: int  # of the workload's random.Random
    new_share: float  # share of pushes that carry a never-seen e-mail
    database_url: str | None  # a server to create the bench database on; None: embedded
    pool_size: int  # connections of the ceiling's pool: the store's own budget
    cores: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = Env(environ)
        return cls(
            requests=env.integer("INLET_BENCH_REQUESTS", 3000, minimum=1, maximum=10_000_000),
            concurrency=env.integer("INLET_BENCH_CONCURRENCY", 64, minimum=1, maximum=4096),
            warmup=env.integer("INLET_BENCH_WARMUP", 200, minimum=0, maximum=1_000_000),
            seed=env.integer("INLET_BENCH_SEED", 1),
            new_share=0.5,
            database_url=env.optional("INLET_DATABASE_URL"),
            pool_size=_store_pool_size(environ),
            cores=os.cpu_count() or 1,
        )


def _store_pool_size(environ: Mapping[str, str]) -> int:
    """INLET_DB_POOL_MAX as the store reads it (the stack passes our environment on)."""
    return StoreConfig.from_env({**environ, "INLET_DATABASE_URL": "unused"}).pool_max
