"""What the scenarios run against: a fresh database, the whole suite as processes, a seeded
contact endpoint, and a reset of the data tables between scenarios."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from google.protobuf import field_mask_pb2

from bench.cpu import postmaster_pid
from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo, postgres
from inlet_devstack.ports import Ports
from inlet_devstack.stack import running
from inlet_store import repository
from inlet_store.tokens import token_hash

WORKSPACE = "bench"

# Tables a push writes to; emptied before each scenario so each starts from the same state.
DATA_TABLES = (
    "activity_entries",
    "record_keys",
    "records",
    "endpoint_idempotency_keys",
    "rate_windows",
    # Streams' current items point at records by a trigger-checked reference (not a foreign
    # key, so TRUNCATE … CASCADE on records does not reach them).
    "stream_items",
)


@dataclass(frozen=True)
class Target:
    """The seeded contact endpoint, as the gateway and as the database know it."""

    token: str
    endpoint_id: str
    workspace_id: str
    entity_type_id: str


@dataclass(frozen=True)
class Suite:
    gateway_url: str
    target: Target
    processes: dict[str, int]  # service name → pid
    # The Envoy edge beside the gateway, on the same services.
    envoy_url: str

    @property
    def push_url(self) -> str:
        return f"{self.gateway_url}/api/v1/ingest/{self.target.token}"

    @property
    def envoy_push_url(self) -> str:
        return f"{self.envoy_url}/api/v1/ingest/{self.target.token}"


@contextlib.contextmanager
def database(server_url: str | None) -> Iterator[str]:
    """A fresh database on `server_url`'s server (embedded PostgreSQL when None), dropped after."""
    if server_url is None:
        # Not nested in a 0700 directory: as root, pgserver runs postgres as its own user.
        data_dir = Path(tempfile.mkdtemp(prefix="inlet-pg-"))
        server_url, _server = postgres.embedded(data_dir, cleanup="delete")
    url = postgres.create_database(server_url, prefix="inlet_bench")
    try:
        yield url
    finally:
        postgres.drop_database(url)


@contextlib.asynccontextmanager
async def suite(database_url: str) -> AsyncIterator[Suite]:
    """Migrate, start store, notifier, matcher, gateway and Envoy on free ports, seed; stop
    after."""
    ports = Ports(0, 0, 0, 0, envoy=0)
    with tempfile.TemporaryDirectory(prefix="inlet-bench-logs-") as log_dir:
        async with running(database_url, ports=ports, log_dir=Path(log_dir)) as stack:
            async with channel(stack.address("store")) as ch:
                admin = admin_pb2_grpc.AdminServiceStub(ch)
                seeded = await demo.seed(
                    admin,
                    bootstrap_token=stack.bootstrap_token,
                    workspace_slug=WORKSPACE,
                    endpoint_types=("contact",),
                )
                # The bench measures the chain, not the default 6000/min limit's 429s.
                await admin.UpdateIngestEndpoint(
                    admin_pb2.UpdateIngestEndpointRequest(
                        ingest_endpoint=admin_pb2.IngestEndpoint(
                            name=seeded.endpoints["contact"], rate_limit=1_000_000
                        ),
                        update_mask=field_mask_pb2.FieldMask(paths=["rate_limit"]),
                    ),
                    metadata=seeded.auth,
                )
            target = await _target(database_url, seeded.tokens["contact"])
            pids = {name: service.process.pid for name, service in stack.services.items()}
            assert stack.envoy is not None
            pids["envoy"] = stack.envoy.process.pid
            yield Suite(stack.gateway_url, target, pids, stack.envoy.url)


async def _target(database_url: str, token: str) -> Target:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        found = await repository.resolve_endpoint(conn, token_hash(token))
    if found is None:
        raise LookupError("the seeded contact endpoint is not in the database")
    return Target(
        token=token,
        endpoint_id=found.id,
        workspace_id=found.workspace_id,
        entity_type_id=found.entity_type.id,
    )


async def postgres_pid(database_url: str) -> int:
    """The pid of the PostgreSQL server holding `database_url` (its postmaster)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("SELECT pg_backend_pid()")
        found = await cur.fetchone()
        assert found is not None
        # Read while the backend lives: it exits once this connection closes.
        return postmaster_pid(int(found[0]))


async def reset(database_url: str) -> None:
    """Empty the data tables and checkpoint, so a scenario neither sees nor pays for the last."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        # CASCADE: what other dialects keep about records (push internal ids, links) goes too.
        await conn.execute(f"TRUNCATE {', '.join(DATA_TABLES)} CASCADE")
        # CHECKPOINT needs privileges a given server's user may lack; it only reduces noise.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            await conn.execute("CHECKPOINT")
