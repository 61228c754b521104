"""`python -m inlet_matcher`: serve IngestService until SIGTERM."""

from __future__ import annotations

import os
from pathlib import Path

from inlet_common import entrypoint, grpcserver, logs, tracing
from inlet_common.channels import channel
from inlet_common.httprender import HttpSettings
from inlet_common.metrics import serve_metrics
from inlet_matcher import app
from inlet_matcher.config import MatcherConfig
from inlet_matcher.external import ExternalIngest
from inlet_matcher.hold import Hold
from inlet_matcher.judged import JudgedItems
from inlet_matcher.push.use_case import Ingest
from inlet_matcher.store_client import GrpcStore
from inlet_matcher.stream import GrpcStreamStore, StreamIngest
from inlet_matcher.transfer import GrpcTransferStore, PushTransfers
from inlet_matcher.worker import Workers


async def serve() -> None:
    config = MatcherConfig.from_env(os.environ)
    logs.configure("matcher", config.service.log_level)
    tracing.configure("matcher")
    serve_metrics(
        config.service.metrics_port,
        host=config.service.metrics_host,
        port_file=config.service.metrics_port_file,
    )
    store_channel = channel(config.store_addr)
    stream_store = GrpcStreamStore(store_channel, config.store_timeout_seconds)
    workers = Workers(
        stream_store,
        count=config.stream_workers,
        lease_seconds=config.stream_lease_seconds,
        poll_seconds=config.stream_poll_seconds,
        hold=(
            Hold(config.hold_after_chunks, Path(config.hold_file))
            if config.hold_after_chunks and config.hold_file
            else None
        ),
        judged=JudgedItems(),
    )
    service = await app.start(
        Ingest(GrpcStore(store_channel, config.store_timeout_seconds)),
        config.service.grpc_addr,
        streams=StreamIngest(stream_store, workers.wake, judged=workers.judged),
        transfers=PushTransfers(
            GrpcTransferStore(store_channel, config.store_timeout_seconds),
            workers.wake,
            sync_max_seconds=config.push_sync_max_seconds,
        ),
        external=ExternalIngest(stream_store, workers.wake),
        http=HttpSettings(config.external_problem_base),
    )
    workers.start()

    async def close() -> None:
        await workers.stop()
        await store_channel.close(grace=None)

    await grpcserver.run_until_signalled(
        service,
        name="matcher",
        grace=config.service.grace_seconds,
        port_file=config.service.port_file,
        on_stop=close,
    )


def main() -> None:
    entrypoint.run(serve)


if __name__ == "__main__":
    main()
