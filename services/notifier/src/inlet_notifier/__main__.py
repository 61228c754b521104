"""`python -m inlet_notifier`: serve NotifierService and WebhookService, deliver, until SIGTERM."""

from __future__ import annotations

import logging
import os

from inlet_common import entrypoint, grpcserver, logs, tracing
from inlet_common.metrics import serve_metrics
from inlet_notifier import app, auth, gauges
from inlet_notifier.config import NotifierConfig
from inlet_notifier.delivery import Worker
from inlet_notifier.retention import Janitor
from inlet_notifier.service import Webhooks

log = logging.getLogger("inlet_notifier")


async def serve() -> None:
    config = NotifierConfig.from_env(os.environ)
    logs.configure("notifier", config.service.log_level)
    tracing.configure("notifier")
    serve_metrics(
        config.service.metrics_port,
        host=config.service.metrics_host,
        port_file=config.service.metrics_port_file,
    )
    pool = await app.open_pool(config.database_url, max_size=config.pool_max)
    unwatch = gauges.watch(pool)
    keys = config.secret_keys
    # Key ids only: the key ring itself is never logged.
    log.info("webhook secret keys", extra={"encrypt_with": keys.primary, "key_ids": keys.kids})
    worker = Worker(pool, config.delivery, keys=keys)
    webhooks = Webhooks(
        pool,
        keys=keys,
        allow_private=config.delivery.allow_private,
        secret_grace_seconds=config.secret_grace_seconds,
        wake=worker.nudge,
    )
    # Before serving or delivering: rows from before encryption at rest (or under an
    # older key) are sealed under the current key, once, whichever notifier starts first.
    await webhooks.seal_stored_secrets()
    service = await app.start(webhooks, auth.authenticator(pool), config.service.grpc_addr)
    worker.start()
    janitor = Janitor(
        pool,
        config.webhook_retention_seconds,
        interval_seconds=config.retention_interval_seconds,
    )
    janitor.start()

    async def stop() -> None:
        await janitor.stop()
        await worker.stop()
        unwatch()
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
