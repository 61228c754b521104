"""The operator console at /console/: server-rendered pages over the admin API."""

from __future__ import annotations

import logging
import os

from inlet_common.keyring import KEY_BYTES, parse_key_ring
from inlet_gateway.config import GatewayConfig
from inlet_gateway.console.app import Console
from inlet_gateway.console.session import Sealer, Sessions
from inlet_gateway.console.upstream import ChannelFor, Upstream

log = logging.getLogger(__name__)

__all__ = ["Console", "build_console"]


def build_console(config: GatewayConfig, channel_for: ChannelFor) -> Console:
    """The console for `config`, calling the admin API over `channel_for`'s channels."""
    if config.console_session_keys:
        keys = parse_key_ring(config.console_session_keys)
    else:
        log.warning(
            "INLET_CONSOLE_SESSION_KEYS is not set: console sessions are sealed with a key made "
            "at start, so they end when this gateway stops and hold on this replica only"
        )
        keys = [("ephemeral", os.urandom(KEY_BYTES))]
    upstream = Upstream(
        channel_for=channel_for,
        store_addr=config.store_addr,
        notifier_addr=config.notifier_addr,
        timeout_seconds=config.timeout_seconds,
    )
    sessions = Sessions(Sealer(keys), config.console_session_seconds)
    return Console(upstream, sessions, secure_cookie=config.console_secure_cookie)
