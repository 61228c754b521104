"""Typed reading of INLET_* environment variables; a bad or missing value names its key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the key."""


class Env:
    """Reads typed values from an environment mapping, failing loudly per key."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, key: str, default: str | None = None) -> str:
        value = self._environ.get(key)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"{key} is required but not set")
            return default
        return value

    def optional(self, key: str) -> str | None:
        value = self._environ.get(key)
        return value if value else None

    def integer(self, key: str, default: int, *, minimum: int = 0, maximum: int = 2**31) -> int:
        raw = self._environ.get(key)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{key} must be an integer, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{key} must be between {minimum} and {maximum}, got {value}")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self._environ.get(key)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{key} must be at least {minimum}, got {value}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        raw = self._environ.get(key)
        if raw is None or raw == "":
            return default
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{key} must be true or false, got {raw!r}")

    def address(self, key: str, default: str | None = None) -> str:
        value = self.text(key, default)
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"{key} must be host:port, got {value!r}")
        if int(port) > 65535:
            raise ConfigError(f"{key} port must be at most 65535, got {int(port)}")
        return value


@dataclass(frozen=True)
class ServiceSettings:
    """What every gRPC service reads: where to listen, logs, metrics, shutdown grace."""

    grpc_addr: str
    port_file: str | None
    log_level: str
    metrics_port: int | None
    grace_seconds: float
    # Where /metrics listens (INLET_METRICS_HOST), and a file to write its bound port to
    # (INLET_METRICS_PORT_FILE: a supervisor starting it on port 0 learns the port).
    metrics_host: str = "127.0.0.1"
    metrics_port_file: str | None = None

    @classmethod
    def from_env(cls, env: Env, default_addr: str) -> ServiceSettings:
        level = env.text("INLET_LOG_LEVEL", "INFO").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(
                f"INLET_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}"
            )
        metrics = env.optional("INLET_METRICS_PORT")
        return cls(
            grpc_addr=env.address("INLET_GRPC_ADDR", default_addr),
            port_file=env.optional("INLET_PORT_FILE"),
            log_level=level,
            metrics_port=env.integer("INLET_METRICS_PORT", 0, maximum=65535) if metrics else None,
            grace_seconds=env.number("INLET_SHUTDOWN_GRACE_SECONDS", 10.0),
            metrics_host=env.text("INLET_METRICS_HOST", "127.0.0.1"),
            metrics_port_file=env.optional("INLET_METRICS_PORT_FILE"),
        )
