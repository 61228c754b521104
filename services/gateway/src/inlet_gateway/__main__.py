"""Entry point: python -m inlet_gateway (configuration from INLET_* variables)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import uvloop

from inlet_common import entrypoint, logs, tracing
from inlet_common.config import ConfigError
from inlet_common.metrics import serve_metrics
from inlet_gateway.config import GatewayConfig
from inlet_gateway.server import serve

log = logging.getLogger("inlet_gateway")


def main() -> int:
    try:
        config = GatewayConfig.from_env(os.environ)
    except ConfigError as error:
        sys.stderr.write(f"inlet-gateway: configuration error: {error}\n")
        return 2
    logs.configure("gateway", config.log_level)
    try:
        tracing.configure("gateway")
        serve_metrics(
            config.metrics_port, host=config.metrics_host, port_file=config.metrics_port_file
        )
        entrypoint.tune_gc()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(config))
    except OSError as error:
        log.error("cannot serve: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
