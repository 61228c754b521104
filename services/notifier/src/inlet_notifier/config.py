"""The notifier's configuration, from INLET_* environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from inlet_common.config import ConfigError, Env, ServiceSettings
from inlet_common.retention import retention_seconds
from inlet_notifier.secrets_at_rest import KeyRing

KEYS_ENV = "INLET_WEBHOOK_SECRET_KEYS"

# Seconds before each attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


@dataclass(frozen=True)
class DeliverySettings:
    """How deliveries are attempted; every duration in seconds."""

    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    # Multiplies the schedule (tests run it at 0.001).
    schedule_scale: float = 1.0
    jitter: float = 0.1
    timeout: float = 15.0
    # A claim outlives the attempt's timeout, so a live worker never loses one.
    lease: float = 30.0
    # The fallback poll: new deliveries wake the worker (NOTIFY), retries and lease ends
    # are slept to, a lost LISTEN connection wakes everything when it is back; so an idle
    # notifier looks only this often.
    poll: float = 30.0
    max_in_flight: int = 64
    per_endpoint: int = 4
    disable_after: float = 5 * 24 * 3600.0
    allow_private: bool = False
    retry_after_cap: float = 24 * 3600.0

    def delay_before(self, attempt: int) -> float | None:
        """Seconds to wait before attempt number `attempt` (1-based); None: exhausted."""
        if attempt > len(self.schedule):
            return None
        return self.schedule[attempt - 1] * self.schedule_scale


@dataclass(frozen=True)
class NotifierConfig:
    service: ServiceSettings
    database_url: str
    pool_max: int
    # repr=False: the config must be safe to print or log; the key ring never is.
    secret_keys: KeyRing = field(repr=False)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    secret_grace_seconds: float = 24 * 3600.0
    # Finished deliveries (with their attempts) and the events left without any are
    # deleted this long after; 0 keeps them forever.
    webhook_retention_seconds: int = 30 * 86400
    # How often a notifier tries a retention pass (replicas take turns under a lock).
    retention_interval_seconds: float = 600.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> NotifierConfig:
        env = Env(environ)
        # Unset variables keep the dataclasses' defaults.
        default = DeliverySettings()
        timeout = env.number("INLET_WEBHOOK_TIMEOUT_SECONDS", default.timeout, minimum=0.01)
        delivery = DeliverySettings(
            schedule=_schedule(env.optional("INLET_WEBHOOK_RETRY_SCHEDULE")),
            schedule_scale=env.number("INLET_WEBHOOK_RETRY_SCALE", default.schedule_scale),
            jitter=env.number("INLET_WEBHOOK_RETRY_JITTER", default.jitter),
            timeout=timeout,
            lease=env.number("INLET_WEBHOOK_LEASE_SECONDS", timeout * 2, minimum=0.01),
            poll=env.number("INLET_WEBHOOK_POLL_SECONDS", default.poll, minimum=0.01),
            max_in_flight=env.integer(
                "INLET_WEBHOOK_MAX_IN_FLIGHT", default.max_in_flight, minimum=1
            ),
            per_endpoint=env.integer("INLET_WEBHOOK_PER_ENDPOINT", default.per_endpoint, minimum=1),
            disable_after=env.number("INLET_WEBHOOK_DISABLE_AFTER_SECONDS", default.disable_after),
            allow_private=env.flag("INLET_WEBHOOK_ALLOW_PRIVATE", default.allow_private),
        )
        if delivery.lease <= delivery.timeout:
            raise ConfigError(
                "INLET_WEBHOOK_LEASE_SECONDS must exceed INLET_WEBHOOK_TIMEOUT_SECONDS "
                f"({delivery.lease} <= {delivery.timeout})"
            )
        return cls(
            service=ServiceSettings.from_env(env, "127.0.0.1:50053"),
            database_url=env.text("INLET_DATABASE_URL"),
            pool_max=env.integer("INLET_DB_POOL_MAX", 20, minimum=2, maximum=1000),
            secret_keys=_key_ring(env.optional(KEYS_ENV)),
            delivery=delivery,
            secret_grace_seconds=env.number(
                "INLET_WEBHOOK_SECRET_GRACE_SECONDS", cls.secret_grace_seconds
            ),
            webhook_retention_seconds=retention_seconds(
                env, "INLET_WEBHOOK_RETENTION_SECONDS", cls.webhook_retention_seconds
            ),
            retention_interval_seconds=env.number(
                "INLET_RETENTION_INTERVAL_SECONDS", cls.retention_interval_seconds, minimum=1.0
            ),
        )


def _key_ring(raw: str | None) -> KeyRing:
    # Required: without it the notifier would have to store signing secrets in clear.
    # Messages name the key and the entry, never the value (it is key material).
    if raw is None:
        raise ConfigError(
            f"{KEYS_ENV} is required but not set: a key ring kid:base64key[,…] of 32-byte "
            "keys that encrypts webhook signing secrets at rest (the first encrypts, all "
            "decrypt)"
        )
    try:
        return KeyRing.parse(raw)
    except ValueError as error:
        raise ConfigError(f"{KEYS_ENV}: {error}") from None


def _schedule(raw: str | None) -> tuple[float, ...]:
    if raw is None:
        return DEFAULT_SCHEDULE
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError(
            f"INLET_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds, got {raw!r}"
        ) from None
    if not values or any(v < 0 for v in values):
        raise ConfigError(f"INLET_WEBHOOK_RETRY_SCHEDULE must be non-negative, got {raw!r}")
    return values
