"""The gateway's settings, read once from INLET_* environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from inlet_common.config import (
    DEFAULT_EXTERNAL_PROBLEM_BASE,
    ConfigError,
    Env,
    external_problem_base,
)
from inlet_common.keyring import parse_key_ring

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class GatewayConfig:
    listen_host: str
    listen_port: int
    matcher_addr: str
    store_addr: str = "127.0.0.1:50052"  # AdminService
    notifier_addr: str = "127.0.0.1:50053"  # WebhookService
    timeout_seconds: float = 10.0
    # A synchronous push transfer may wait this long for its completion (the matcher's
    # INLET_PUSH_SYNC_MAX_SECONDS); its call's deadline is this plus timeout_seconds.
    push_sync_max_seconds: float = 300.0
    # A slow client's request head (its headers) must arrive within header_timeout_seconds
    # of the connection (or of the previous answer), and its body within body_timeout_seconds.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    # The upstream channels are closed after this long without a request (0: never); gRPC's
    # runtime and its threads stop with the last one (inlet_gateway.idlechannels).
    channel_idle_seconds: float = 30.0
    port_file: str | None = None
    log_level: str = "INFO"
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port_file: str | None = None
    # The console at /console/ (INLET_CONSOLE).
    console: bool = True
    # Key ring sealing console session cookies; None: a key made at start (sessions end
    # with the process and hold on this replica only).
    console_session_keys: str | None = field(default=None, repr=False)
    console_session_seconds: int = 8 * 3600
    # None: Secure cookies when the request came over TLS; True/False: always/never.
    console_secure_cookie: bool | None = None
    # Problem `type` URIs of the integration dialect are <base><category>/<slug>; the
    # default is its seed's, so clients that compare `type` keep working.
    external_problem_base: str = DEFAULT_EXTERNAL_PROBLEM_BASE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GatewayConfig:
        """Read and check every key; a bad value raises ConfigError naming it."""
        env = Env(environ)
        host, port = _host_port(env, "INLET_GATEWAY_ADDR", "127.0.0.1:8080")
        matcher_addr = env.address("INLET_MATCHER_ADDR", "127.0.0.1:50051")
        store_addr = env.address("INLET_STORE_ADDR", "127.0.0.1:50052")
        notifier_addr = env.address("INLET_NOTIFIER_ADDR", "127.0.0.1:50053")
        timeout = env.number("INLET_GATEWAY_TIMEOUT_SECONDS", 10.0)
        if timeout <= 0:
            raise ConfigError(f"INLET_GATEWAY_TIMEOUT_SECONDS must be positive, got {timeout}")
        header_timeout = env.number("INLET_GATEWAY_HEADER_TIMEOUT_SECONDS", 10.0, minimum=0.1)
        body_timeout = env.number("INLET_GATEWAY_BODY_TIMEOUT_SECONDS", 30.0, minimum=0.1)
        push_sync_max = env.number("INLET_PUSH_SYNC_MAX_SECONDS", 300.0, minimum=0.1)
        level = env.text("INLET_LOG_LEVEL", "INFO").upper()
        if level not in _LOG_LEVELS:
            raise ConfigError(
                f"INLET_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {level!r}"
            )
        metrics_port: int | None = None
        if env.optional("INLET_METRICS_PORT") is not None:
            metrics_port = env.integer("INLET_METRICS_PORT", 0, minimum=0, maximum=65535)
        keys = env.optional("INLET_CONSOLE_SESSION_KEYS")
        if keys is not None:
            try:
                parse_key_ring(keys)
            except ValueError as error:
                raise ConfigError(f"INLET_CONSOLE_SESSION_KEYS: {error}") from None
        secure_text = env.text("INLET_CONSOLE_SECURE_COOKIE", "auto").strip().lower()
        secure = None if secure_text == "auto" else env.flag("INLET_CONSOLE_SECURE_COOKIE", False)
        base = external_problem_base(env)
        return cls(
            external_problem_base=base,
            listen_host=host,
            listen_port=port,
            matcher_addr=matcher_addr,
            store_addr=store_addr,
            notifier_addr=notifier_addr,
            timeout_seconds=timeout,
            push_sync_max_seconds=push_sync_max,
            header_timeout_seconds=header_timeout,
            body_timeout_seconds=body_timeout,
            channel_idle_seconds=env.number("INLET_GATEWAY_CHANNEL_IDLE_SECONDS", 30.0),
            port_file=env.optional("INLET_PORT_FILE"),
            log_level=level,
            metrics_port=metrics_port,
            metrics_host=env.text("INLET_METRICS_HOST", "127.0.0.1"),
            metrics_port_file=env.optional("INLET_METRICS_PORT_FILE"),
            console=env.flag("INLET_CONSOLE", True),
            console_session_keys=keys,
            console_session_seconds=env.integer(
                "INLET_CONSOLE_SESSION_SECONDS", 8 * 3600, minimum=300, maximum=7 * 86400
            ),
            console_secure_cookie=secure,
        )


def _host_port(env: Env, key: str, default: str) -> tuple[str, int]:
    host, _, port_text = env.address(key, default).rpartition(":")
    port = int(port_text)  # Env.address checked it is a port number
    # "[::1]:8080" names an IPv6 host; sockets want it without brackets.
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port
