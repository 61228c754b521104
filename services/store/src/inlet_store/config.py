"""The store's configuration, from INLET_* environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inlet_common.config import Env, ServiceSettings


@dataclass(frozen=True)
class StoreConfig:
    service: ServiceSettings
    database_url: str
    pool_min: int
    pool_max: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StoreConfig:
        env = Env(environ)
        return cls(
            service=ServiceSettings.from_env(env, "127.0.0.1:50052"),
            database_url=env.text("INLET_DATABASE_URL"),
            pool_min=env.integer("INLET_DB_POOL_MIN", 2, minimum=1, maximum=1000),
            pool_max=env.integer("INLET_DB_POOL_MAX", 20, minimum=1, maximum=1000),
        )
