"""The suite's service processes: spawned with env and logs, awaited until healthy, stopped."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inlet_devstack.supervise import RotatingLog, pump_in_thread
from inlet_notifier.config import KEYS_ENV

READY_TIMEOUT = 60.0
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


class Launcher:
    """Spawning a stack's services and waiting until each is ready."""

    workdir: Path
    log_dir: Path | None
    extra_env: Mapping[str, str]
    services: dict[str, ServiceProcess]
    webhook_secret_keys: str
    console_session_keys: str
    log_max_bytes: int
    log_backups: int

    async def spawn(
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

    async def ready(self, service: ServiceProcess) -> int:
        bound = await wait_for_port(service, self.workdir / f"{service.name}.port")
        # Written before the service port: there by now.
        metrics_bound = await wait_for_port(service, self.workdir / f"{service.name}.metrics-port")
        service.metrics_address = f"{service.host}:{metrics_bound}"
        if service.name.partition("-")[0] == "gateway":
            await _wait_http(service, f"{service.host}:{bound}")
        else:
            await _wait_grpc(service, f"{service.host}:{bound}")
        return bound


async def wait_for_port(service: ServiceProcess, port_file: Path) -> int:
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


async def _wait_grpc(service: ServiceProcess, address: str) -> None:
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


async def _wait_http(service: ServiceProcess, address: str) -> None:
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


async def stop_process(service: ServiceProcess, grace: float) -> None:
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
