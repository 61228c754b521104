"""The notifier's retention settings from the environment: defaults, 0, and bad values."""

from __future__ import annotations

import pytest

from inlet_common.config import ConfigError
from inlet_notifier.config import NotifierConfig
from inlet_notifier.secrets_at_rest import new_key_ring

BASE = {
    "INLET_DATABASE_URL": "postgresql://localhost/inlet",
    "INLET_WEBHOOK_SECRET_KEYS": new_key_ring("k1"),
}


def test_retention_defaults() -> None:
    config = NotifierConfig.from_env(BASE)

    assert config.webhook_retention_seconds == 30 * 86400
    assert config.retention_interval_seconds == 600.0


def test_retention_set() -> None:
    config = NotifierConfig.from_env(
        {
            **BASE,
            "INLET_WEBHOOK_RETENTION_SECONDS": "3600",
            "INLET_RETENTION_INTERVAL_SECONDS": "1.5",
        }
    )

    assert config.webhook_retention_seconds == 3600
    assert config.retention_interval_seconds == 1.5


def test_ten_years_is_the_longest() -> None:
    config = NotifierConfig.from_env({**BASE, "INLET_WEBHOOK_RETENTION_SECONDS": "315360000"})

    assert config.webhook_retention_seconds == 10 * 365 * 86400


def test_zero_keeps_forever() -> None:
    config = NotifierConfig.from_env({**BASE, "INLET_WEBHOOK_RETENTION_SECONDS": "0"})

    assert config.webhook_retention_seconds == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("INLET_WEBHOOK_RETENTION_SECONDS", "30d"),
        ("INLET_WEBHOOK_RETENTION_SECONDS", "1.5"),
        ("INLET_WEBHOOK_RETENTION_SECONDS", "-1"),
        ("INLET_WEBHOOK_RETENTION_SECONDS", "1"),
        ("INLET_WEBHOOK_RETENTION_SECONDS", "3599"),
        ("INLET_WEBHOOK_RETENTION_SECONDS", "315360001"),
        ("INLET_RETENTION_INTERVAL_SECONDS", "often"),
        ("INLET_RETENTION_INTERVAL_SECONDS", "0"),
        ("INLET_RETENTION_INTERVAL_SECONDS", "0.5"),
    ],
)
def test_bad_values_name_their_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        NotifierConfig.from_env({**BASE, key: value})
