"""The store's configuration, from INLET_* environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inlet_common.config import ConfigError, Env, ServiceSettings
from inlet_common.retention import retention_seconds
from inlet_store.feed import FeedSettings


@dataclass(frozen=True)
class StoreConfig:
    service: ServiceSettings
    database_url: str
    pool_min: int
    pool_max: int
    idempotency_ttl_seconds: int
    # Authorises creating workspaces over the admin API (unset: none can be created).
    admin_bootstrap_token: str | None
    # The notifier keeps push sessions' signing secrets (events reach it through the outbox).
    notifier_addr: str
    # Finished stream requests (with their item outcomes) are deleted this long after they
    # finished; connector and activity log entries this long after they were written.
    # 0 keeps them forever.
    request_retention_seconds: int
    log_retention_seconds: int
    # How often a store tries a retention pass (replicas take turns under a lock).
    retention_interval_seconds: float
    # Live feeds: buffer per subscription, how long a full one waits, heartbeats.
    feed: FeedSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StoreConfig:
        env = Env(environ)
        idempotency_ttl_seconds = env.integer(
            "INLET_IDEMPOTENCY_TTL_SECONDS", 86400, minimum=60, maximum=30 * 86400
        )
        request_retention = retention_seconds(env, "INLET_REQUEST_RETENTION_SECONDS", 30 * 86400)
        if 0 < request_retention < idempotency_ttl_seconds:
            # A replayed Idempotency-Key answers with its request's id: that request must
            # still be there to be looked up.
            raise ConfigError(
                "INLET_REQUEST_RETENTION_SECONDS must be 0 or at least"
                f" INLET_IDEMPOTENCY_TTL_SECONDS ({idempotency_ttl_seconds}), got"
                f" {request_retention}"
            )
        return cls(
            service=ServiceSettings.from_env(env, "127.0.0.1:50052"),
            database_url=env.text("INLET_DATABASE_URL"),
            pool_min=env.integer("INLET_DB_POOL_MIN", 2, minimum=1, maximum=1000),
            pool_max=env.integer("INLET_DB_POOL_MAX", 20, minimum=1, maximum=1000),
            idempotency_ttl_seconds=idempotency_ttl_seconds,
            admin_bootstrap_token=env.optional("INLET_ADMIN_BOOTSTRAP_TOKEN"),
            notifier_addr=env.address("INLET_NOTIFIER_ADDR", "127.0.0.1:50053"),
            request_retention_seconds=request_retention,
            log_retention_seconds=retention_seconds(env, "INLET_LOG_RETENTION_SECONDS", 90 * 86400),
            retention_interval_seconds=env.number(
                "INLET_RETENTION_INTERVAL_SECONDS", 600.0, minimum=1.0
            ),
            feed=FeedSettings(
                buffer=env.integer("INLET_FEED_BUFFER", 1000, minimum=1, maximum=1_000_000),
                stall_seconds=env.number("INLET_FEED_STALL_SECONDS", 10.0, minimum=0.01),
                heartbeat_seconds=env.number("INLET_FEED_HEARTBEAT_SECONDS", 15.0, minimum=0.1),
            ),
        )
