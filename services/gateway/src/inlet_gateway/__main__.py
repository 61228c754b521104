"""Entry point: python -m inlet_gateway (configuration from INLET_* variables)."""

from __future__ import annotations

import os

from inlet_common import entrypoint, logs, tracing
from inlet_common.metrics import serve_metrics
from inlet_gateway.config import GatewayConfig
from inlet_gateway.server import serve


async def run() -> None:
    config = GatewayConfig.from_env(os.environ)
    logs.configure("gateway", config.log_level)
    tracing.configure("gateway")
    serve_metrics(config.metrics_port, host=config.metrics_host, port_file=config.metrics_port_file)
    await serve(config)


def main() -> None:
    entrypoint.run(run)


if __name__ == "__main__":
    main()
