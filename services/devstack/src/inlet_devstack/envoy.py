"""The Envoy edge beside the gateway (`make run-envoy`, tests): deploy/envoy/envoy.yaml
rendered for this stack's ports and the gateway's settings, started from the virtualenv's
envoy, waited on."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from inlet_common.config import DEFAULT_EXTERNAL_PROBLEM_BASE, ConfigError, Env
from inlet_gateway import limits
from inlet_gateway.config import GatewayConfig

ROOT = Path(__file__).resolve().parents[4]
CONFIG = ROOT / "deploy" / "envoy" / "envoy.yaml"
DESCRIPTOR = ROOT / "gen" / "inlet.binpb"
READY_TIMEOUT = 60.0


class EnvoyError(RuntimeError):
    """Envoy did not come up; the message carries its log's tail."""


def concurrency(env: Mapping[str, str]) -> list[str]:
    """Envoy's worker-thread option from INLET_ENVOY_CONCURRENCY; none (one worker per core,
    Envoy's default) when unset. Each worker refreshes its cached `Date` every 500 ms idle
    or not (≈ 2.4 wake-ups a second each), so a quiet local stack may want one; under the
    bench's 64 pushes in flight, one worker cost the Envoy row about a fifth against two."""
    try:
        workers = Env(env).integer("INLET_ENVOY_CONCURRENCY", 0, minimum=0, maximum=1024)
    except ConfigError as error:
        raise EnvoyError(str(error)) from None
    return ["--concurrency", str(workers)] if workers else []


@dataclass
class RunningEnvoy:
    process: asyncio.subprocess.Process
    url: str
    log_path: Path

    async def stop(self, grace: float = 10.0) -> None:
        if self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise EnvoyError(f"{CONFIG}: expected exactly one {old!r}")
    return text.replace(old, new)


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def with_settings(text: str, env: Mapping[str, str]) -> str:
    """The config with the gateway's settings where the checked-in file holds their
    defaults: its header and body deadlines (the 408's message too) and the integration
    dialect's problem base in Envoy's own answers."""
    try:
        gateway = GatewayConfig.from_env(env)
    except ConfigError as error:
        raise EnvoyError(str(error)) from None
    default = GatewayConfig.from_env({})
    text = _replace_once(
        text,
        f"request_headers_timeout: {_duration(default.header_timeout_seconds)}",
        f"request_headers_timeout: {_duration(gateway.header_timeout_seconds)}",
    )
    text = _replace_once(
        text,
        f"request_timeout: {_duration(default.body_timeout_seconds)}",
        f"request_timeout: {_duration(gateway.body_timeout_seconds)}",
    )
    message = limits.body_timeout_message(default.body_timeout_seconds)
    if message not in text:
        raise EnvoyError(f"{CONFIG}: no 408 message {message!r} (run `make protos`)")
    text = text.replace(message, limits.body_timeout_message(gateway.body_timeout_seconds))
    base = f"type: {DEFAULT_EXTERNAL_PROBLEM_BASE}"
    if base not in text:
        raise EnvoyError(f"{CONFIG}: no {base!r} to replace (run `make protos`)")
    return text.replace(base, f"type: {gateway.external_problem_base}")


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def render(
    port: int, *, matcher: str, store: str, notifier: str, env: Mapping[str, str] | None = None
) -> str:
    """The checked-in config with this stack's listener port, upstream addresses and the
    gateway's settings (`env`: the services' environment)."""
    text = with_settings(CONFIG.read_text(), env or {})
    text = _replace_once(text, "port_value: 8081", f"port_value: {port}")
    text = _replace_once(text, "port_value: 9901", "port_value: 0")
    hosts = []
    for checked_in, actual in (("50051", matcher), ("50052", store), ("50053", notifier)):
        host, _, bound = actual.rpartition(":")
        hosts.append(host)
        text = _replace_once(
            text,
            f"{{ address: 127.0.0.1, port_value: {checked_in} }}",
            f"{{ address: {host}, port_value: {bound} }}",
        )
    if all(_ip_literal(host) for host in hosts):
        # Nothing to resolve: no cluster re-resolves its address every 5 s.
        text = text.replace("type: STRICT_DNS", "type: STATIC")
    return _replace_once(
        text, "proto_descriptor: gen/inlet.binpb", f"proto_descriptor: {DESCRIPTOR}"
    )


async def start(
    workdir: Path,
    log_dir: Path | None,
    port: int,
    *,
    matcher: str,
    store: str,
    notifier: str,
    env: Mapping[str, str] | None = None,
) -> RunningEnvoy:
    """Envoy serving on `port` (0: any free), ready to route to every service."""
    config = workdir / "envoy.yaml"
    config.write_text(render(port, matcher=matcher, store=store, notifier=notifier, env=env))
    workers = concurrency(env or {})
    address_file = workdir / "envoy-admin-address"
    log_path = (log_dir or workdir) / "envoy.log"
    with log_path.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "envoy"),
            "-c",
            str(config),
            "--base-id",
            str(random.randrange(1_000, 1_000_000)),  # several stacks on one machine
            "--admin-address-path",
            str(address_file),
            "--log-level",
            "warn",
            *workers,
            cwd=workdir,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = await _wait_ready(process, address_file, log_path)
    except BaseException:
        await RunningEnvoy(process, "", log_path).stop()
        raise
    return RunningEnvoy(process, url, log_path)


def _read(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def _wait_ready(
    process: asyncio.subprocess.Process, address_file: Path, log_path: Path
) -> str:
    """Polls Envoy's admin until /ready, then reads the port its public listener bound."""
    deadline = time.monotonic() + READY_TIMEOUT
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise EnvoyError(f"envoy exited with {process.returncode}\n{_tail(log_path)}")
            admin = await asyncio.to_thread(_read, address_file)
            if admin:
                with contextlib.suppress(httpx.TransportError):
                    ready = await client.get(f"http://{admin}/ready")
                    if ready.status_code == 200:
                        listeners = (
                            await client.get(f"http://{admin}/listeners?format=json")
                        ).json()
                        (public,) = [
                            item
                            for item in listeners["listener_statuses"]
                            if item["name"] == "public"
                        ]
                        bound = public["local_address"]["socket_address"]["port_value"]
                        return f"http://127.0.0.1:{bound}"
            await asyncio.sleep(0.05)
    raise EnvoyError(f"envoy not ready within {READY_TIMEOUT:g}s\n{_tail(log_path)}")
