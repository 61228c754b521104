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
    idempotency_ttl_seconds: int
    # Authorises creating workspaces over the admin API (unset: none can be created).
    admin_bootstrap_token: str | None
    notifier_addr: str
    outbox_poll_seconds: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StoreConfig:
        env = Env(environ)
        return cls(
            service=ServiceSettings.from_env(env, "127.0.0.1:50052"),
            database_url=env.text("INLET_DATABASE_URL"),
            pool_min=env.integer("INLET_DB_POOL_MIN", 2, minimum=1, maximum=1000),
            pool_max=env.integer("INLET_DB_POOL_MAX", 20, minimum=1, maximum=1000),
            idempotency_ttl_seconds=env.integer(
                "INLET_IDEMPOTENCY_TTL_SECONDS", 86400, minimum=60, maximum=30 * 86400
            ),
            admin_bootstrap_token=env.optional("INLET_ADMIN_BOOTSTRAP_TOKEN"),
            notifier_addr=env.address("INLET_NOTIFIER_ADDR", "127.0.0.1:50053"),
            outbox_poll_seconds=env.number("INLET_OUTBOX_POLL_SECONDS", 0.1, minimum=0.01),
        )
