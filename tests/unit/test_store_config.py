"""The store's retention settings from the environment: defaults, 0, and bad values."""

from __future__ import annotations

import pytest

from inlet_common.config import ConfigError
from inlet_store.config import StoreConfig

BASE = {"INLET_DATABASE_URL": "postgresql://localhost/inlet"}


def test_retention_defaults() -> None:
    config = StoreConfig.from_env(BASE)

    assert config.request_retention_seconds == 30 * 86400
    assert config.log_retention_seconds == 90 * 86400
    assert config.retention_interval_seconds == 600.0


def test_retention_set() -> None:
    config = StoreConfig.from_env(
        {
            **BASE,
            "INLET_REQUEST_RETENTION_SECONDS": "604800",
            "INLET_LOG_RETENTION_SECONDS": "3600",
            "INLET_RETENTION_INTERVAL_SECONDS": "1.5",
        }
    )

    assert config.request_retention_seconds == 604800
    assert config.log_retention_seconds == 3600
    assert config.retention_interval_seconds == 1.5


def test_zero_keeps_forever() -> None:
    config = StoreConfig.from_env(
        {**BASE, "INLET_REQUEST_RETENTION_SECONDS": "0", "INLET_LOG_RETENTION_SECONDS": "0"}
    )

    assert (config.request_retention_seconds, config.log_retention_seconds) == (0, 0)


def test_an_hour_of_requests_needs_an_idempotency_ttl_no_longer() -> None:
    config = StoreConfig.from_env(
        {
            **BASE,
            "INLET_REQUEST_RETENTION_SECONDS": "3600",
            "INLET_IDEMPOTENCY_TTL_SECONDS": "3600",
        }
    )

    assert config.request_retention_seconds == 3600


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("INLET_REQUEST_RETENTION_SECONDS", "30d"),
        ("INLET_REQUEST_RETENTION_SECONDS", "-1"),
        ("INLET_REQUEST_RETENTION_SECONDS", "3599"),
        ("INLET_REQUEST_RETENTION_SECONDS", "315360001"),
        # Shorter than the Idempotency-Key TTL (a day): a replay would name a pruned request.
        ("INLET_REQUEST_RETENTION_SECONDS", "3600"),
        ("INLET_LOG_RETENTION_SECONDS", "1.5"),
        ("INLET_LOG_RETENTION_SECONDS", "59"),
        ("INLET_LOG_RETENTION_SECONDS", "315360001"),
        ("INLET_RETENTION_INTERVAL_SECONDS", "often"),
        ("INLET_RETENTION_INTERVAL_SECONDS", "0"),
        ("INLET_RETENTION_INTERVAL_SECONDS", "0.5"),
    ],
)
def test_bad_values_name_their_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        StoreConfig.from_env({**BASE, key: value})
