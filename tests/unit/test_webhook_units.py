"""Pure pieces of the notifier: signing, Retry-After, the address guard, configuration."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks

from inlet_common.config import ConfigError
from inlet_notifier import guard, signing
from inlet_notifier.config import DEFAULT_SCHEDULE, DeliverySettings, NotifierConfig
from inlet_notifier.delivery import retry_after_seconds
from inlet_notifier.errors import BadWebhookUrl


def test_headers_verify_with_standardwebhooks_and_a_tampered_body_does_not() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    now = datetime.now(UTC)
    body = signing.body("record.created", now, {"id": "r1"})
    headers = signing.headers("msg_1", body, [secret], now)
    assert standardwebhooks.Webhook(secret).verify(body, headers)["data"] == {"id": "r1"}
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body.replace(b"r1", b"r2"), headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(signing.new_secret()).verify(body, headers)


def test_two_secrets_give_two_signatures() -> None:
    now = datetime.now(UTC)
    headers = signing.headers("m", b"{}", [signing.new_secret(), signing.new_secret()], now)
    assert [s[:3] for s in headers["webhook-signature"].split(" ")] == ["v1,", "v1,"]


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_seconds(later, now) == 30.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert guard.is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("url", ["ftp://example.com/", "mailto:a@b.c", "not a url"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(BadWebhookUrl, match="url"):
        guard.parse_url(url)


def test_schedule_defaults_scales_and_exhausts() -> None:
    settings = DeliverySettings(schedule_scale=0.5)
    assert settings.delay_before(1) == 0.0
    assert settings.delay_before(2) == 2.5
    assert settings.delay_before(len(DEFAULT_SCHEDULE) + 1) is None


def test_config_reads_and_names_bad_keys() -> None:
    env = {
        "INLET_DATABASE_URL": "postgresql://x/y",
        "INLET_WEBHOOK_RETRY_SCHEDULE": "0,1,2",
        "INLET_WEBHOOK_ALLOW_PRIVATE": "true",
        "INLET_WEBHOOK_SECRET_KEYS": "k1:" + "A" * 43,
    }
    config = NotifierConfig.from_env(env)
    assert config.delivery.schedule == (0.0, 1.0, 2.0)
    assert config.delivery.allow_private
    with pytest.raises(ConfigError, match="INLET_WEBHOOK_RETRY_SCHEDULE"):
        NotifierConfig.from_env({**env, "INLET_WEBHOOK_RETRY_SCHEDULE": "0,soon"})
    with pytest.raises(ConfigError, match="INLET_WEBHOOK_LEASE_SECONDS"):
        NotifierConfig.from_env({**env, "INLET_WEBHOOK_LEASE_SECONDS": "1"})
    with pytest.raises(ConfigError, match="INLET_DATABASE_URL"):
        NotifierConfig.from_env({})
