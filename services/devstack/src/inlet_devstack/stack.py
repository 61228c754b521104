"""Starting the whole suite as processes: store, matcher, notifier and gateway, each
waited on until healthy, stopped in reverse order with SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inlet_common.keyring import new_key_ring
from inlet_devstack import envoy as envoy_edge
from inlet_notifier.config import KEYS_ENV
from inlet_store.migrations import migrate

READY_TIMEOUT = 60.0
CONSOLE_KEYS_ENV = "INLET_CONSOLE_SESSION_KEYS"


class StackError(RuntimeError):
    """A service did not come up; the message says which and where its log is."""


@dataclass
class ServiceProcess:
    name: str
    process: asyncio.subprocess.Process
    address: str
    log_path: Path | None

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

    @property
    def gateway_url(self) -> str:
        return f"http://{self.services['gateway'].address}"

    @property
    def envoy_url(self) -> str | None:
        return self.envoy.url if self.envoy is not None else None

    def address(self, name: str) -> str:
        return self.services[name].address

    async def start_service(self, name: str, port: int, host: str, env: dict[str, str]) -> str:
        port_file = self.workdir / f"{name}.port"
        port_file.unlink(missing_ok=True)
        keys = {KEYS_ENV: self.webhook_secret_keys} if name == "notifier" else {}
        if name == "gateway":
            keys = {CONSOLE_KEYS_ENV: self.console_session_keys}
        full_env = {
            **os.environ,
            **self.extra_env,
            **keys,
            **env,
            "INLET_PORT_FILE": str(port_file),
        }
        log_file: IO[bytes] | None = None
        log_path = None
        if self.log_dir is not None:
            log_path = self.log_dir / f"{name}.log"
            log_file = log_path.open("ab")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"inlet_{name}",
            env=full_env,
            stdout=log_file if log_file else None,
            stderr=log_file if log_file else None,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops us in order
            preexec_fn=_die_with_parent,
        )
        if log_file is not None:
            log_file.close()
        service = ServiceProcess(name, process, "", log_path)
        self.services[name] = service
        bound = await self._wait_for_port(service, port_file)
        service.address = f"{host}:{bound}"
        if name == "gateway":
            await self._wait_http(service)
        else:
            await self._wait_grpc(service)
        return service.address

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

    async def _wait_grpc(self, service: ServiceProcess) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        async with grpc.aio.insecure_channel(service.address) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < deadline:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                await asyncio.sleep(0.05)
        raise StackError(f"{service.name} never became healthy\n{service.log_tail()}")

    async def _wait_http(self, service: ServiceProcess) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    reply = await client.get(f"http://{service.address}/healthz", timeout=1)
                    if reply.status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise StackError(f"{service.name} never answered /healthz\n{service.log_tail()}")

    async def stop(self, grace: float = 10.0) -> None:
        if self.envoy is not None:
            await self.envoy.stop(grace)
            self.envoy = None
        for name in ("gateway", "matcher", "notifier", "store"):
            service = self.services.pop(name, None)
            if service is None or service.process.returncode is not None:
                continue
            service.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(service.process.wait(), grace)
            except TimeoutError:
                service.process.kill()
                await service.process.wait()


@contextlib.asynccontextmanager
async def running(
    database_url: str,
    *,
    ports: Ports | None = None,
    log_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    webhook_secret_keys: str | None = None,
    console_session_keys: str | None = None,
) -> AsyncIterator[Stack]:
    """Migrate `database_url`, start every service, yield the stack, stop it.

    webhook_secret_keys: the notifier's INLET_WEBHOOK_SECRET_KEYS (else extra_env's, else
    a fresh key ring); a database whose rows outlive the stack needs the same one again.
    console_session_keys: the gateway's INLET_CONSOLE_SESSION_KEYS (else extra_env's, else
    fresh); the same one again keeps console sessions valid across a restart.
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
        )
        host = ports.host
        try:
            # The notifier first: the store asks it for push sessions' signing secrets.
            notifier = await stack.start_service(
                "notifier",
                ports.notifier,
                host,
                {"INLET_DATABASE_URL": database_url, "INLET_GRPC_ADDR": f"{host}:{ports.notifier}"},
            )
            store = await stack.start_service(
                "store",
                ports.store,
                host,
                {
                    "INLET_DATABASE_URL": database_url,
                    "INLET_NOTIFIER_ADDR": notifier,
                    "INLET_GRPC_ADDR": f"{host}:{ports.store}",
                    "INLET_ADMIN_BOOTSTRAP_TOKEN": stack.bootstrap_token,
                },
            )
            matcher = await stack.start_service(
                "matcher",
                ports.matcher,
                host,
                {"INLET_GRPC_ADDR": f"{host}:{ports.matcher}", "INLET_STORE_ADDR": store},
            )
            await stack.start_service(
                "gateway",
                ports.gateway,
                host,
                {
                    "INLET_GATEWAY_ADDR": f"{host}:{ports.gateway}",
                    "INLET_MATCHER_ADDR": matcher,
                    "INLET_STORE_ADDR": store,
                    "INLET_NOTIFIER_ADDR": notifier,
                },
            )
            if ports.envoy is not None:
                try:
                    stack.envoy = await envoy_edge.start(
                        Path(tmp),
                        log_dir,
                        ports.envoy,
                        matcher=matcher,
                        store=store,
                        notifier=notifier,
                    )
                except envoy_edge.EnvoyError as error:
                    raise StackError(str(error)) from None
            yield stack
        finally:
            await stack.stop()


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the launcher dies (Linux), so a killed
    test run or launcher never leaves services running."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def _read_port(port_file: Path) -> int | None:
    return int(port_file.read_text()) if port_file.exists() else None
