"""`python -m inlet_store [serve|migrate]`: run the store, or apply migrations and exit."""

from __future__ import annotations

import logging
import os
import sys

from inlet_common import entrypoint, grpcserver, logs, tracing
from inlet_common.channels import channel
from inlet_common.listen import Listener
from inlet_common.metrics import serve_metrics
from inlet_store import app, gauges
from inlet_store.admin.session_signer import GrpcSessionSigner
from inlet_store.config import StoreConfig
from inlet_store.feed_hub import FeedHub
from inlet_store.inbox.waiting import Wakeups
from inlet_store.migrations import migrate
from inlet_store.retention import Janitor, Retention

log = logging.getLogger("inlet_store")


async def serve() -> None:
    config = StoreConfig.from_env(os.environ)
    logs.configure("store", config.service.log_level)
    tracing.configure("store")
    serve_metrics(
        config.service.metrics_port,
        host=config.service.metrics_host,
        port_file=config.service.metrics_port_file,
    )
    pool = await app.open_pool(
        config.database_url, min_size=config.pool_min, max_size=config.pool_max
    )
    unwatch = gauges.watch(pool)
    notifier = channel(config.notifier_addr)
    # Workers' claims wait in the store for work; a committed request wakes one (NOTIFY).
    wakeups = Wakeups()
    # One LISTEN connection for the process: the inbox, and live feeds once watched.
    listener = Listener(config.database_url, {"inlet_inbox": wakeups.wake})
    listener.start()
    hub = FeedHub(listener)
    service = await app.start(
        pool,
        config.service.grpc_addr,
        bootstrap_token=config.admin_bootstrap_token,
        idempotency_ttl_seconds=config.idempotency_ttl_seconds,
        signer=GrpcSessionSigner(notifier),
        feed=config.feed,
        hub=hub,
        wakeups=wakeups,
    )
    janitor = Janitor(
        pool,
        Retention(
            request_seconds=config.request_retention_seconds,
            log_seconds=config.log_retention_seconds,
        ),
        interval_seconds=config.retention_interval_seconds,
    )
    janitor.start()

    async def stop() -> None:
        await janitor.stop()
        await hub.aclose()
        await listener.stop()
        await notifier.close(grace=None)
        unwatch()
        await pool.close()

    await grpcserver.run_until_signalled(
        service,
        name="store",
        grace=config.service.grace_seconds,
        port_file=config.service.port_file,
        on_stop=stop,
        # Parked claims answer at once (empty): workers are not kept waiting for the drain.
        on_signal=wakeups.close,
    )


async def run_migrations() -> None:
    config = StoreConfig.from_env(os.environ)
    logs.configure("store", config.service.log_level)
    applied = await migrate(config.database_url)
    log.info("migrations applied", extra={"versions": applied})


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    commands = {"serve": serve, "migrate": run_migrations}
    if command not in commands:
        sys.stderr.write(f"usage: python -m inlet_store [{'|'.join(commands)}]\n")
        raise SystemExit(2)
    entrypoint.run(commands[command])


if __name__ == "__main__":
    main()
