"""Webhook signing secrets at rest: the sealed format, the key ring and its configuration."""

from __future__ import annotations

import base64
import os
import uuid

import pytest

from inlet_common.config import ConfigError
from inlet_notifier import signing
from inlet_notifier.config import NotifierConfig
from inlet_notifier.secrets_at_rest import KeyRing, SecretKeyError, new_key_ring

ENDPOINT = str(uuid.uuid4())
BASE_ENV = {"INLET_DATABASE_URL": "postgresql://x/y"}


def b64(raw: bytes, *, urlsafe: bool = False) -> str:
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()


def test_round_trip_and_the_stored_form() -> None:
    keys = KeyRing.parse(new_key_ring("k1"))
    secret = signing.new_secret()
    sealed = keys.seal(ENDPOINT, secret)
    assert sealed.startswith("enc:v1:k1:")
    assert "whsec_" not in sealed
    assert secret.removeprefix("whsec_") not in sealed
    raw = base64.urlsafe_b64decode(sealed.removeprefix("enc:v1:k1:"))
    assert len(raw) == 12 + len(secret) + 16  # nonce, ciphertext, GCM tag
    assert keys.open(ENDPOINT, sealed) == secret
    # The id as psycopg returns it (uuid.UUID) and in capitals open the same value.
    assert keys.open(uuid.UUID(ENDPOINT), sealed) == secret
    assert keys.open(ENDPOINT.upper(), sealed) == secret


def test_a_fresh_nonce_per_value() -> None:
    keys = KeyRing.parse(new_key_ring())
    assert keys.seal(ENDPOINT, "whsec_x") != keys.seal(ENDPOINT, "whsec_x")


def test_a_value_copied_to_another_endpoint_does_not_open() -> None:
    keys = KeyRing.parse(new_key_ring())
    sealed = keys.seal(ENDPOINT, signing.new_secret())
    other = str(uuid.uuid4())
    with pytest.raises(SecretKeyError) as info:
        keys.open(other, sealed)
    assert other in str(info.value)
    assert "another endpoint" in str(info.value)


def test_an_altered_value_does_not_open() -> None:
    keys = KeyRing.parse(new_key_ring("k1"))
    sealed = keys.seal(ENDPOINT, signing.new_secret())
    raw = bytearray(base64.urlsafe_b64decode(sealed.removeprefix("enc:v1:k1:")))
    raw[-1] ^= 1
    altered = "enc:v1:k1:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(SecretKeyError, match=ENDPOINT):
        keys.open(ENDPOINT, altered)
    with pytest.raises(SecretKeyError, match="truncated"):
        keys.open(ENDPOINT, "enc:v1:k1:AAAA")
    with pytest.raises(SecretKeyError, match="unknown format"):
        keys.open(ENDPOINT, "enc:v9:k1:AAAA")


def test_an_unknown_key_id_is_a_clear_error_naming_the_endpoint_not_the_secret() -> None:
    old = KeyRing.parse(new_key_ring("old"))
    secret = signing.new_secret()
    sealed = old.seal(ENDPOINT, secret)
    other = KeyRing.parse(new_key_ring("new"))
    with pytest.raises(SecretKeyError) as info:
        other.open(ENDPOINT, sealed)
    message = str(info.value)
    assert ENDPOINT in message
    assert "'old'" in message
    assert "INLET_WEBHOOK_SECRET_KEYS" in message
    assert secret not in message
    assert sealed.rsplit(":", 1)[1] not in message


def test_a_different_key_under_the_same_id_does_not_open() -> None:
    sealed = KeyRing.parse(new_key_ring("k1")).seal(ENDPOINT, "whsec_x")
    with pytest.raises(SecretKeyError, match="does not decrypt with key 'k1'"):
        KeyRing.parse(new_key_ring("k1")).open(ENDPOINT, sealed)


def test_rotation_the_new_first_key_seals_and_the_old_one_still_opens() -> None:
    old_ring, new_ring = new_key_ring("k1"), new_key_ring("k2")
    before = KeyRing.parse(old_ring)
    sealed_before = before.seal(ENDPOINT, "whsec_before")
    after = KeyRing.parse(f"{new_ring},{old_ring}")
    assert after.primary == "k2"
    assert after.kids == ["k2", "k1"]
    sealed_after = after.seal(ENDPOINT, "whsec_after")
    assert sealed_after.startswith("enc:v1:k2:")
    assert after.open(ENDPOINT, sealed_before) == "whsec_before"
    assert after.open(ENDPOINT, sealed_after) == "whsec_after"
    # Re-sealing moves older-key and clear values under the first key, and only those …
    resealed = after.reseal(ENDPOINT, sealed_before)
    assert resealed.startswith("enc:v1:k2:")
    assert after.reseal(ENDPOINT, sealed_after) == sealed_after
    clear = after.reseal(ENDPOINT, "whsec_clear")
    # … after which the old key can be retired.
    retired = KeyRing.parse(new_ring)
    assert retired.open(ENDPOINT, resealed) == "whsec_before"
    assert retired.open(ENDPOINT, clear) == "whsec_clear"
    with pytest.raises(SecretKeyError, match="'k1'"):
        retired.open(ENDPOINT, sealed_before)


def test_a_clear_value_from_before_encryption_still_opens_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys = KeyRing.parse(new_key_ring())
    with caplog.at_level("WARNING", logger="inlet_notifier.secrets_at_rest"):
        assert keys.open(ENDPOINT, "whsec_legacy") == "whsec_legacy"
        assert keys.open(ENDPOINT, "whsec_legacy") == "whsec_legacy"
    warnings = [r for r in caplog.records if "in clear" in r.getMessage()]
    assert len(warnings) == 1
    assert "whsec_legacy" not in caplog.text


def test_key_ring_accepts_standard_and_urlsafe_base64_with_or_without_padding() -> None:
    key = b"\xfb\xff" * 16  # encodes with + and / (standard) or - and _ (urlsafe)
    for text in (b64(key), b64(key, urlsafe=True), b64(key).rstrip("=")):
        keys = KeyRing.parse(f" a:{text} ,b:{b64(os.urandom(32))}\n")
        assert keys.kids == ["a", "b"]
        sealed = keys.seal(ENDPOINT, "whsec_x")
        assert KeyRing.parse(f"a:{b64(key, urlsafe=True)}").open(ENDPOINT, sealed) == "whsec_x"


def test_the_key_ring_never_shows_its_keys() -> None:
    ring = new_key_ring("k1")
    keys = KeyRing.parse(ring)
    assert ring.split(":", 1)[1] not in repr(keys)
    config = NotifierConfig.from_env({**BASE_ENV, "INLET_WEBHOOK_SECRET_KEYS": ring})
    assert config.secret_keys.primary == "k1"
    assert ring.split(":", 1)[1] not in repr(config)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "INLET_WEBHOOK_SECRET_KEYS is required"),
        ("", "INLET_WEBHOOK_SECRET_KEYS is required"),
        ("just-a-key", "entry 1 must be kid:base64key"),
        (f"k1:{b64(os.urandom(32))},", "entry 2 must be kid:base64key"),
        (":" + b64(os.urandom(32)), "entry 1 must be kid:base64key"),
        ("k1:not base64!", "key 'k1' (entry 1) is not base64"),
        (f"k1:{b64(os.urandom(16))}", "key 'k1' must be 32 bytes, got 16"),
        (f"k1:{b64(os.urandom(32))},k1:{b64(os.urandom(32))}", "key id 'k1' appears twice"),
        (f"k 1:{b64(os.urandom(32))}", "key id 'k 1' must be"),
    ],
)
def test_config_errors_name_the_key_and_never_echo_key_material(
    value: str | None, expected: str
) -> None:
    env = dict(BASE_ENV)
    if value is not None:
        env["INLET_WEBHOOK_SECRET_KEYS"] = value
    with pytest.raises(ConfigError) as info:
        NotifierConfig.from_env(env)
    message = str(info.value)
    assert message.startswith("INLET_WEBHOOK_SECRET_KEYS")
    assert expected in message
    for part in (value or "").replace(",", ":").split(":"):
        if len(part) > 8:
            assert part not in message
