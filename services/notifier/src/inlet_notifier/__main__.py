"""`python -m inlet_notifier`: serve NotifierService until SIGTERM."""

from __future__ import annotations

import os

from inlet_common import entrypoint, grpcserver, logs
from inlet_common.metrics import serve_metrics
from inlet_notifier import app
from inlet_notifier.config import NotifierConfig


async def serve() -> None:
    config = NotifierConfig.from_env(os.environ)
    logs.configure("notifier", config.service.log_level)
    serve_metrics(config.service.metrics_port)
    service = await app.start(config.service.grpc_addr)
    await grpcserver.run_until_signalled(
        service,
        name="notifier",
        grace=config.service.grace_seconds,
        port_file=config.service.port_file,
    )


def main() -> None:
    entrypoint.run(serve)


if __name__ == "__main__":
    main()
