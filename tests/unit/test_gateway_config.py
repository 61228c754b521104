"""Gateway configuration from the environment, and body caps."""

from __future__ import annotations

import pytest

from inlet_common.config import ConfigError
from inlet_gateway import limits
from inlet_gateway.config import GatewayConfig


def test_defaults() -> None:
    config = GatewayConfig.from_env({})

    assert config == GatewayConfig(
        listen_host="127.0.0.1",
        listen_port=8080,
        matcher_addr="127.0.0.1:50051",
        timeout_seconds=10.0,
        port_file=None,
        log_level="INFO",
        metrics_port=None,
    )


def test_everything_set() -> None:
    config = GatewayConfig.from_env(
        {
            "INLET_GATEWAY_ADDR": "[::1]:0",
            "INLET_MATCHER_ADDR": "matcher:7000",
            "INLET_GATEWAY_TIMEOUT_SECONDS": "2.5",
            "INLET_PORT_FILE": "/tmp/port",
            "INLET_LOG_LEVEL": "debug",
            "INLET_METRICS_PORT": "9100",
            "INLET_GATEWAY_CHANNEL_IDLE_SECONDS": "0",
        }
    )

    assert (config.listen_host, config.listen_port) == ("::1", 0)
    assert config.matcher_addr == "matcher:7000"
    assert config.timeout_seconds == 2.5
    assert config.port_file == "/tmp/port"
    assert config.log_level == "DEBUG"
    assert config.metrics_port == 9100
    assert config.channel_idle_seconds == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("INLET_GATEWAY_ADDR", "8080"),
        ("INLET_GATEWAY_ADDR", "host:99999"),
        ("INLET_MATCHER_ADDR", "matcher"),
        ("INLET_GATEWAY_TIMEOUT_SECONDS", "soon"),
        ("INLET_GATEWAY_TIMEOUT_SECONDS", "0"),
        ("INLET_LOG_LEVEL", "LOUD"),
        ("INLET_METRICS_PORT", "x"),
        ("INLET_METRICS_PORT", "70000"),
        ("INLET_GATEWAY_CHANNEL_IDLE_SECONDS", "-1"),
        ("INLET_GATEWAY_CHANNEL_IDLE_SECONDS", "later"),
    ],
)
def test_bad_values_name_their_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        GatewayConfig.from_env({key: value})


def test_body_caps() -> None:
    assert limits.body_limit("inlet.ingest.v1.IngestService.PushEndpoint") == 102400
    assert limits.body_limit("inlet.other.v1.Service.Method") == 1024 * 1024
    assert limits.describe(102400) == "100 KB"
    assert limits.describe(1024 * 1024) == "1 MB"
    assert limits.describe(1000) == "1000 bytes"


def test_declared_length_over_the_cap_is_refused_before_reading() -> None:
    limits.check_declared(None, 10)
    limits.check_declared(b"10", 10)
    with pytest.raises(limits.BodyTooLarge, match="10 bytes"):
        limits.check_declared(b"11", 10)


async def test_streamed_body_stops_at_the_cap() -> None:
    events = [
        {"type": "http.request", "body": b"12345", "more_body": True},
        {"type": "http.request", "body": b"67890", "more_body": True},
        {"type": "http.request", "body": b"x", "more_body": True},
    ]
    read: list[int] = []

    async def receive() -> dict[str, object]:
        read.append(1)
        return events[len(read) - 1]

    with pytest.raises(limits.BodyTooLarge):
        await limits.read_body(receive, 10)
    assert len(read) == 3


async def test_body_at_the_cap_is_read_whole() -> None:
    events = [
        {"type": "http.request", "body": b"12345", "more_body": True},
        {"type": "http.request", "body": b"67890", "more_body": False},
    ]

    async def receive() -> dict[str, object]:
        return events.pop(0)

    assert await limits.read_body(receive, 10) == b"1234567890"


async def test_disconnect_while_reading() -> None:
    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    with pytest.raises(limits.ClientDisconnected):
        await limits.read_body(receive, 10)
