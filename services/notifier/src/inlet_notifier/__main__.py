"""`python -m inlet_notifier`: serve NotifierService and WebhookService, deliver, until SIGTERM."""

from __future__ import annotations

import os

from inlet_common import entrypoint, grpcserver, logs
from inlet_common.metrics import serve_metrics
from inlet_notifier import app, auth
from inlet_notifier.config import NotifierConfig
from inlet_notifier.delivery import Worker
from inlet_notifier.service import Webhooks


async def serve() -> None:
    config = NotifierConfig.from_env(os.environ)
    logs.configure("notifier", config.service.log_level)
    serve_metrics(config.service.metrics_port)
    pool = await app.open_pool(config.database_url, max_size=config.pool_max)
    worker = Worker(pool, config.delivery)
    webhooks = Webhooks(
        pool,
        allow_private=config.delivery.allow_private,
        secret_grace_seconds=config.secret_grace_seconds,
        wake=worker.nudge,
    )
    service = await app.start(webhooks, auth.authenticator(pool), config.service.grpc_addr)
    worker.start()

    async def stop() -> None:
        await worker.stop()
        await pool.close()

    await grpcserver.run_until_signalled(
        service,
        name="notifier",
        grace=config.service.grace_seconds,
        port_file=config.service.port_file,
        on_stop=stop,
    )


def main() -> None:
    entrypoint.run(serve)


if __name__ == "__main__":
    main()
