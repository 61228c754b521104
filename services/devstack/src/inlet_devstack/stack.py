"""Starting the whole suite as processes: store, matcher, notifier and gateway, each
waited on until healthy, supervised (a crashed one is restarted on its port, with
backoff), stopped in reverse order with SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inlet_common.keyring import new_key_ring
from inlet_devstack import envoy as envoy_edge
from inlet_devstack.supervise import Backoff, RotatingLog, pump_in_thread
from inlet_notifier.config import KEYS_ENV
from inlet_store.migrations import migrate

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
# Each service's own address variable: a restart binds the port the others know.
_ADDRESS_ENV = {"gateway": "INLET_GATEWAY_ADDR"}
_GRPC_ADDRESS_ENV = "INLET_GRPC_ADDR"
LOG_MAX_BYTES_ENV = "INLET_LOG_MAX_BYTES"
LOG_BACKUPS_ENV = "INLET_LOG_BACKUPS"
CONSOLE_KEYS_ENV = "INLET_CONSOLE_SESSION_KEYS"


class StackError(RuntimeError):
    """A service did not come up; the message says which and where its log is."""


@dataclass
class ServiceProcess:
    name: str
    process: asyncio.subprocess.Process
    address: str
    log_path: Path | None
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0
    # What it was started with, to start it again the same way.
    host: str = ""
    env: dict[str, str] = field(default_factory=dict)
    pump: threading.Thread | None = None
    # host:port of its Prometheus /metrics, and the port asked for (a restart keeps it).
    metrics_address: str = ""
    metrics_port: int = 0

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Ports:
    """Where each service listens; 0 lets the OS choose (tests)."""

    gateway: int = 8080
    matcher: int = 50051
    store: int = 50052
    notifier: int = 50053
    host: str = "127.0.0.1"
    # The Envoy edge beside the gateway (`make run-envoy`); None: not started.
    envoy: int | None = None
    # Each service's /metrics port (by service name); a service missing here gets its
    # METRICS_PORTS default, or any free port when its own port is 0.
    metrics: Mapping[str, int] = field(default_factory=dict)

    def metrics_port(self, name: str) -> int:
        if name in self.metrics:
            return self.metrics[name]
        return 0 if getattr(self, name) == 0 else METRICS_PORTS[name]


# `make run`'s /metrics ports (INLET_<SERVICE>_METRICS_PORT changes one).
METRICS_PORTS = {"gateway": 9464, "matcher": 9465, "store": 9466, "notifier": 9467}
# Stopped in this order (replicas with their service): edges first, the store last.
STOP_ORDER = ("gateway", "matcher", "notifier", "store")


@dataclass
class Stack:
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
        service = await self._spawn(name, host, env, metrics_port)
        bound = await self._ready(service)
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

    async def _spawn(
        self, name: str, host: str, env: dict[str, str], metrics_port: int
    ) -> ServiceProcess:
        service_name = name.partition("-")[0]
        port_file = self.workdir / f"{name}.port"
        port_file.unlink(missing_ok=True)
        metrics_port_file = self.workdir / f"{name}.metrics-port"
        metrics_port_file.unlink(missing_ok=True)
        keys = {KEYS_ENV: self.webhook_secret_keys} if service_name == "notifier" else {}
        if service_name == "gateway":
            keys = {CONSOLE_KEYS_ENV: self.console_session_keys}
        full_env = {
            **os.environ,
            **self.extra_env,
            **keys,
            **env,
            "INLET_PORT_FILE": str(port_file),
            "INLET_METRICS_PORT": str(metrics_port),
            "INLET_METRICS_HOST": host,
            "INLET_METRICS_PORT_FILE": str(metrics_port_file),
        }
        log_path = self.log_dir / f"{name}.log" if self.log_dir is not None else None
        # Through a pipe the launcher reads on a thread of its own, keeping each log under
        # its size bound.
        read_fd, write_fd = os.pipe() if log_path is not None else (-1, -1)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                f"inlet_{service_name}",
                env=full_env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_fd if log_path else None,
                stderr=write_fd if log_path else None,
                start_new_session=True,  # Ctrl-C reaches the launcher, which stops us in order
                preexec_fn=_die_with_parent,
            )
        except BaseException:
            if log_path is not None:
                os.close(read_fd)
            raise
        finally:
            if log_path is not None:
                os.close(write_fd)  # the child holds it now
        service = ServiceProcess(
            name, process, "", log_path, host=host, env=dict(env), metrics_port=metrics_port
        )
        if log_path is not None:
            rotating = RotatingLog(log_path, self.log_max_bytes, self.log_backups)
            service.pump = pump_in_thread(read_fd, rotating, name)
        previous = self.services.get(name)
        if previous is not None:
            service.restarts = previous.restarts
            service.address = previous.address
        self.services[name] = service
        return service

    async def _ready(self, service: ServiceProcess) -> int:
        bound = await self._wait_for_port(service, self.workdir / f"{service.name}.port")
        # Written before the service port: there by now.
        metrics_bound = await self._wait_for_port(
            service, self.workdir / f"{service.name}.metrics-port"
        )
        service.metrics_address = f"{service.host}:{metrics_bound}"
        if service.name.partition("-")[0] == "gateway":
            await self._wait_http(service, f"{service.host}:{bound}")
        else:
            await self._wait_grpc(service, f"{service.host}:{bound}")
        return bound

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
            service = await self._spawn(name, service.host, env, metrics_port)
            service.restarts += 1
            try:
                await self._ready(service)
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

    async def _wait_for_port(self, service: ServiceProcess, port_file: Path) -> int:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if service.process.returncode is not None:
                raise StackError(
                    f"{service.name} exited with {service.process.returncode}\n{service.log_tail()}"
                )
            bound = await asyncio.to_thread(_read_port, port_file)
            if bound is not None:
                return bound
            await asyncio.sleep(0.05)
        raise StackError(f"{service.name} did not bind a port in time\n{service.log_tail()}")

    async def _wait_grpc(self, service: ServiceProcess, address: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        async with grpc.aio.insecure_channel(address) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < deadline:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                if service.process.returncode is not None:
                    break
                await asyncio.sleep(0.05)
        raise StackError(f"{service.name} never became healthy\n{service.log_tail()}")

    async def _wait_http(self, service: ServiceProcess, address: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    reply = await client.get(f"http://{address}/healthz", timeout=1)
                    if reply.status_code == 200:
                        return
                if service.process.returncode is not None:
                    break
                await asyncio.sleep(0.05)
        raise StackError(f"{service.name} never answered /healthz\n{service.log_tail()}")

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
            await asyncio.gather(*(_stop_process(s, grace) for s in stopping))


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


async def _stop_process(service: ServiceProcess, grace: float) -> None:
    if service.process.returncode is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(service.process.wait(), grace)
        except TimeoutError:
            service.process.kill()
            await service.process.wait()
    if service.pump is not None:
        await asyncio.to_thread(service.pump.join, grace)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the launcher dies (Linux), so a killed
    test run or launcher never leaves services running."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def _read_port(port_file: Path) -> int | None:
    return int(port_file.read_text()) if port_file.exists() else None
