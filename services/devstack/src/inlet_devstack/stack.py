"""The running suite: services started in order, supervised (restarted), stopped in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from inlet_common.keyring import new_key_ring
from inlet_devstack import envoy as envoy_edge
from inlet_devstack.ports import Ports
from inlet_devstack.processes import (
    CONSOLE_KEYS_ENV,
    Launcher,
    ServiceProcess,
    StackError,
    stop_process,
)
from inlet_devstack.supervise import Backoff
from inlet_notifier.config import KEYS_ENV
from inlet_store.migrations import migrate

log = logging.getLogger(__name__)

# Each service's own address variable: a restart binds the port the others know.
_ADDRESS_ENV = {"gateway": "INLET_GATEWAY_ADDR"}
_GRPC_ADDRESS_ENV = "INLET_GRPC_ADDR"
# Stopped in this order (replicas with their service): edges first, the store last.
STOP_ORDER = ("gateway", "matcher", "notifier", "store")


@dataclass
class Stack(Launcher):
    database_url: str
    workdir: Path
    log_dir: Path | None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    envoy: envoy_edge.RunningEnvoy | None = None
    # Authorises creating workspaces over the admin API; fresh for every stack.
    bootstrap_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # The notifier's key ring for webhook secrets at rest (every notifier start gets it,
    # restarts too). Fresh unless given: `make run` passes the one kept beside its data.
    webhook_secret_keys: str = field(default_factory=new_key_ring, repr=False)
    # The gateway's key ring for console session cookies: fresh unless given (`make run`
    # keeps one, so a restart does not sign the console out).
    console_session_keys: str = field(default_factory=new_key_ring, repr=False)
    # Restart crashed services (the dev launcher and the e2e stack); off while stopping.
    supervise: bool = True
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 3
    _supervisors: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _stopping: bool = False

    @property
    def gateway_url(self) -> str:
        return f"http://{self.services['gateway'].address}"

    @property
    def envoy_url(self) -> str | None:
        return self.envoy.url if self.envoy is not None else None

    def address(self, name: str) -> str:
        return self.services[name].address

    def metrics_url(self, name: str) -> str:
        """Where service `name` serves Prometheus metrics."""
        return f"http://{self.services[name].metrics_address}/metrics"

    async def start_service(
        self, name: str, port: int, host: str, env: dict[str, str], *, metrics_port: int = 0
    ) -> str:
        """Start `name` (a service, or a replica named service-N) and wait until healthy."""
        service = await self.spawn(name, host, env, metrics_port)
        bound = await self.ready(service)
        service.address = f"{host}:{bound}"
        if self.supervise:
            # Started again by hand (a test's own restart): this start is the one watched.
            previous = self._supervisors.pop(name, None)
            if previous is not None:
                previous.cancel()
            self._supervisors[name] = asyncio.create_task(
                self._supervise(name, service), name=f"supervise-{name}"
            )
        return service.address

    async def _supervise(self, name: str, service: ServiceProcess) -> None:
        """Restart `name` whenever it exits while the stack runs, on the port it had; not
        once it was taken out of the stack or replaced by someone else."""
        backoff = Backoff()
        while True:
            code = await service.process.wait()
            if self._stopping or self.services.get(name) is not service:
                return
            ran = time.monotonic() - service.started_at
            delay = backoff.next_delay(ran)
            log.warning(
                "%s exited with %s; restarting it in %.2g s",
                name,
                code,
                delay,
                extra={"service": name, "exit_code": code, "delay_seconds": delay},
            )
            await asyncio.sleep(delay)
            if self._stopping or self.services.get(name) is not service:
                return
            env = dict(service.env)
            env[_ADDRESS_ENV.get(name.partition("-")[0], _GRPC_ADDRESS_ENV)] = service.address
            metrics_port = int(service.metrics_address.rpartition(":")[2] or service.metrics_port)
            service = await self.spawn(name, service.host, env, metrics_port)
            service.restarts += 1
            try:
                await self.ready(service)
            except StackError as error:
                log.warning(
                    "%s failed to restart: %s", name, str(error)[:500], extra={"service": name}
                )
                with contextlib.suppress(ProcessLookupError):
                    service.process.kill()
                continue  # its exit is awaited above, then it is tried again
            log.warning(
                "%s restarted on %s",
                name,
                service.address,
                extra={"service": name, "restarts": service.restarts},
            )

    async def stop(self, grace: float = 10.0) -> None:
        self._stopping = True
        supervisors, self._supervisors = self._supervisors, {}
        for task in supervisors.values():
            task.cancel()
        for task in supervisors.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.envoy is not None:
            await self.envoy.stop(grace)
            self.envoy = None
        for kind in STOP_ORDER:
            names = [n for n in self.services if n.partition("-")[0] == kind]
            stopping = [self.services.pop(n) for n in names]
            await asyncio.gather(*(stop_process(s, grace) for s in stopping))


@contextlib.asynccontextmanager
async def running(
    database_url: str,
    *,
    ports: Ports | None = None,
    log_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    webhook_secret_keys: str | None = None,
    console_session_keys: str | None = None,
    supervise: bool = True,
    log_max_bytes: int = 10 * 1024 * 1024,
    log_backups: int = 3,
    replicas: int = 1,
) -> AsyncIterator[Stack]:
    """Migrate `database_url`, start every service, yield the stack, stop it.

    replicas: how many of each service, all on the one database; the N-th (N ≥ 2) is named
    service-N, listens on free ports, and calls the N-th of the others.

    webhook_secret_keys: the notifier's INLET_WEBHOOK_SECRET_KEYS (else extra_env's, else
    a fresh key ring); a database whose rows outlive the stack needs the same one again.
    console_session_keys: the gateway's INLET_CONSOLE_SESSION_KEYS (else extra_env's, else
    fresh); the same one again keeps console sessions valid across a restart.
    supervise: restart a service that exits while the stack runs (with backoff).
    log_max_bytes, log_backups: each service's log in log_dir rotates past this size.
    """
    ports = ports or Ports()
    extra_env = extra_env or {}
    await migrate(database_url)
    with tempfile.TemporaryDirectory(prefix="inlet-stack-") as tmp:
        keys = webhook_secret_keys or extra_env.get(KEYS_ENV) or new_key_ring()
        console_keys = (
            console_session_keys or extra_env.get(CONSOLE_KEYS_ENV) or new_key_ring("console")
        )
        stack = Stack(
            database_url,
            Path(tmp),
            log_dir,
            extra_env,
            webhook_secret_keys=keys,
            console_session_keys=console_keys,
            supervise=supervise,
            log_max_bytes=log_max_bytes,
            log_backups=log_backups,
        )
        try:
            for replica in range(1, replicas + 1):
                await _start_replica(stack, ports, replica)
            matcher, store, notifier = (stack.address(n) for n in ("matcher", "store", "notifier"))
            if ports.envoy is not None:
                try:
                    stack.envoy = await envoy_edge.start(
                        Path(tmp),
                        log_dir,
                        ports.envoy,
                        matcher=matcher,
                        store=store,
                        notifier=notifier,
                        env={**os.environ, **extra_env},
                    )
                except envoy_edge.EnvoyError as error:
                    raise StackError(str(error)) from None
            yield stack
        finally:
            await stack.stop()


async def _start_replica(stack: Stack, ports: Ports, replica: int) -> None:
    """The `replica`-th of every service, the notifier first (the store's outbox relay
    publishes to it), each pointing at the same-numbered replica of the others."""
    host = ports.host
    suffix = "" if replica == 1 else f"-{replica}"

    def port(name: str) -> int:
        return int(getattr(ports, name)) if replica == 1 else 0

    def metrics(name: str) -> int:
        return ports.metrics_port(name) if replica == 1 else 0

    url = stack.database_url
    notifier = await stack.start_service(
        f"notifier{suffix}",
        port("notifier"),
        host,
        {"INLET_DATABASE_URL": url, "INLET_GRPC_ADDR": f"{host}:{port('notifier')}"},
        metrics_port=metrics("notifier"),
    )
    store = await stack.start_service(
        f"store{suffix}",
        port("store"),
        host,
        {
            "INLET_DATABASE_URL": url,
            "INLET_NOTIFIER_ADDR": notifier,
            "INLET_GRPC_ADDR": f"{host}:{port('store')}",
            "INLET_ADMIN_BOOTSTRAP_TOKEN": stack.bootstrap_token,
        },
        metrics_port=metrics("store"),
    )
    matcher = await stack.start_service(
        f"matcher{suffix}",
        port("matcher"),
        host,
        {"INLET_GRPC_ADDR": f"{host}:{port('matcher')}", "INLET_STORE_ADDR": store},
        metrics_port=metrics("matcher"),
    )
    await stack.start_service(
        f"gateway{suffix}",
        port("gateway"),
        host,
        {
            "INLET_GATEWAY_ADDR": f"{host}:{port('gateway')}",
            "INLET_MATCHER_ADDR": matcher,
            "INLET_STORE_ADDR": store,
            "INLET_NOTIFIER_ADDR": notifier,
        },
        metrics_port=metrics("gateway"),
    )
