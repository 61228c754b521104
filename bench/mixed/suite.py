"""The suite the mixed load runs against: its own embedded PostgreSQL (so it can be
restarted), every service supervised, make run's demo, and a webhook endpoint on a
loopback receiver for every record event."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.mixed.load import Targets
from bench.mixed.receiver import Receiver, receiving
from inlet.notifier.v1 import webhooks_pb2, webhooks_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import postgres, reuse
from inlet_devstack.demo import bearer
from inlet_devstack.ports import Ports
from inlet_devstack.saved import DemoCredentials
from inlet_devstack.stack import Stack, running

RECORD_EVENTS = ("record.created", "record.updated")


@dataclass
class MixedSuite:
    stack: Stack
    server: Any  # the embedded PostgreSQL's pgserver handle
    database_url: str
    receiver: Receiver
    credentials: DemoCredentials
    targets: Targets

    def pids(self) -> dict[str, int]:
        return {name: s.process.pid for name, s in self.stack.services.items()}


def targets_of(gateway_url: str, demo: DemoCredentials) -> Targets:
    key, project, api_key, session = (
        demo.ingest_key,
        demo.project_token,
        demo.api_key,
        demo.push_session,
    )
    if key is None or project is None or api_key is None or session is None:
        raise RuntimeError("the demo lacks a credential")
    return Targets(
        gateway_url,
        endpoint_token=demo.endpoints["contact"].secret,
        ingest_key=key.secret,
        project_token=project.secret,
        api_key=api_key.secret,
        session_id=session.name.rsplit("/", 1)[1],
        integration=reuse.INTEGRATION,
    )


@contextlib.asynccontextmanager
async def mixed_suite(log_dir: Path) -> AsyncIterator[MixedSuite]:
    """Start it all on free ports; stop it, and remove the database server, after."""
    # Not nested in a 0700 directory: as root, pgserver runs postgres as its own user.
    data_dir = Path(tempfile.mkdtemp(prefix="inlet-mixed-pg-"))
    server_url, server = postgres.embedded(data_dir, cleanup="delete")
    try:
        url = postgres.ensure_database(server_url, "inlet")
        async with (
            receiving() as receiver,
            running(
                url,
                ports=Ports(0, 0, 0, 0),
                log_dir=log_dir,
                # The receiver is on loopback.
                extra_env={"INLET_WEBHOOK_ALLOW_PRIVATE": "true"},
            ) as stack,
        ):
            async with channel(stack.address("store")) as ch:
                ready = await reuse.ensure(
                    ch, bootstrap_token=stack.bootstrap_token, saved=DemoCredentials()
                )
            demo = ready.credentials
            async with channel(stack.address("notifier")) as ch:
                await webhooks_pb2_grpc.WebhookServiceStub(ch).CreateWebhookEndpoint(
                    webhooks_pb2.CreateWebhookEndpointRequest(
                        parent=demo.workspace,
                        webhook_endpoint=webhooks_pb2.WebhookEndpoint(
                            url=receiver.url, event_types=list(RECORD_EVENTS)
                        ),
                    ),
                    metadata=bearer(demo.admin_token),
                )
            yield MixedSuite(
                stack, server, url, receiver, demo, targets_of(stack.gateway_url, demo)
            )
    finally:
        postgres.follow_restart(server)
        server.cleanup()
