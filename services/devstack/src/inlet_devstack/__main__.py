"""`python -m inlet_devstack` (what `make run` runs): PostgreSQL, migrations, every
service, and the demo (reused across runs), with a curl per dialect that works as printed."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from inlet_common import entrypoint, logs
from inlet_common.channels import channel
from inlet_common.config import ConfigError, Env
from inlet_common.keyring import new_key_ring, parse_key_ring
from inlet_devstack import banner, postgres, reuse, saved
from inlet_devstack.ports import METRICS_PORTS, Ports
from inlet_devstack.processes import CONSOLE_KEYS_ENV, StackError
from inlet_devstack.stack import running
from inlet_notifier.config import KEYS_ENV

log = logging.getLogger("inlet_devstack")

ALLOW_PRIVATE_ENV = "INLET_WEBHOOK_ALLOW_PRIVATE"


@dataclass(frozen=True)
class Setup:
    """What the launcher prepared before the event loop."""

    database_url: str
    ports: Ports
    log_dir: Path
    webhook_secret_keys: str
    console_session_keys: str
    credentials_file: Path
    # Local receivers (a webhook test server on this machine) are the point of a dev
    # stack, so it allows loopback and private targets unless told otherwise.
    allow_private: bool
    # Each service's log rotates past this size, keeping this many old files.
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 3


def _port(env: Env, key: str, default: int) -> int:
    return env.integer(key, default, maximum=65535)


def kept_key_ring(env: Env, variable: str, keys_file: Path) -> str:
    """The key ring `variable` names if set, else the one kept in `keys_file`, made once.

    Kept, not fresh per run: the database keeps webhook secrets sealed under one, and the
    console's session cookies are sealed under the other."""
    given = env.optional(variable)
    if given is not None:
        return given  # the notifier validates it and names the key if it is bad
    if not keys_file.exists():
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a private temporary file, then linked into place: a launcher
        # starting at the same moment either wins the link or reads the winner's ring.
        temporary = keys_file.with_name(f".{keys_file.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(new_key_ring() + "\n")
        try:
            os.link(temporary, keys_file)
            log.info("key ring created", extra={"path": str(keys_file)})
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    text = keys_file.read_text().strip()
    try:
        parse_key_ring(text)
    except ValueError as error:
        raise ConfigError(f"{keys_file} ({variable}): {error}") from None
    return text


def prepare() -> Setup:
    """Blocking set-up before the event loop: database, ports, directories, key ring."""
    env = Env(os.environ)
    logs.configure("devstack", env.text("INLET_LOG_LEVEL", "INFO"))
    # pgserver narrates every pg_ctl call and httpx every health probe: noise at INFO.
    for chatty in ("pgserver", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    state_dir = Path(env.text("INLET_STATE_DIR", ".inlet")).resolve()
    url = env.optional("INLET_DATABASE_URL")
    # The key ring and the demo's credentials live in the state directory, not in the
    # data directory: that one is PostgreSQL's own.
    keys = kept_key_ring(env, KEYS_ENV, state_dir / "webhook-secret-keys")
    console_keys = kept_key_ring(env, CONSOLE_KEYS_ENV, state_dir / "console-session-keys")
    allow_private = env.flag(ALLOW_PRIVATE_ENV, True)
    if url is None:
        data_dir = Path(env.text("INLET_DATA_DIR", str(state_dir / "pgdata"))).resolve()
        server_url, server = postgres.embedded(data_dir, cleanup="stop")
        # Stopped at exit even when it was restarted meanwhile (a new postmaster).
        postgres.stop_at_exit(server)
        url = postgres.ensure_database(server_url, "inlet")
        log.info("embedded PostgreSQL running", extra={"data_dir": str(data_dir)})
    ports = Ports(
        gateway=_port(env, "INLET_GATEWAY_PORT", 8080),
        matcher=_port(env, "INLET_MATCHER_PORT", 50051),
        store=_port(env, "INLET_STORE_PORT", 50052),
        notifier=_port(env, "INLET_NOTIFIER_PORT", 50053),
        envoy=_port(env, "INLET_ENVOY_PORT", 8081) if env.flag("INLET_ENVOY", False) else None,
        # Unset: METRICS_PORTS, or any free port for a service on port 0.
        metrics={
            name: _port(env, f"INLET_{name.upper()}_METRICS_PORT", 0)
            for name in METRICS_PORTS
            if env.optional(f"INLET_{name.upper()}_METRICS_PORT") is not None
        },
    )
    log_dir = Path(env.text("INLET_LOG_DIR", str(state_dir / "logs"))).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_max_bytes = env.integer("INLET_LOG_MAX_BYTES", 10 * 1024 * 1024, minimum=64 * 1024)
    log_backups = env.integer("INLET_LOG_BACKUPS", 3, minimum=0, maximum=100)
    return Setup(
        url,
        ports,
        log_dir,
        keys,
        console_keys,
        state_dir / "demo-credentials.json",
        allow_private,
        log_max_bytes,
        log_backups,
    )


async def serve(setup: Setup) -> None:
    try:
        async with running(
            setup.database_url,
            ports=setup.ports,
            log_dir=setup.log_dir,
            extra_env={ALLOW_PRIVATE_ENV: "true" if setup.allow_private else "false"},
            webhook_secret_keys=setup.webhook_secret_keys,
            console_session_keys=setup.console_session_keys,
            log_max_bytes=setup.log_max_bytes,
            log_backups=setup.log_backups,
        ) as stack:
            async with channel(stack.address("store")) as ch:
                ready = await reuse.ensure(
                    ch,
                    bootstrap_token=stack.bootstrap_token,
                    saved=saved.load(setup.credentials_file),
                )
            saved.save(setup.credentials_file, ready.credentials)
            addresses = banner.Addresses(
                gateway_url=stack.gateway_url,
                matcher=stack.address("matcher"),
                store=stack.address("store"),
                notifier=stack.address("notifier"),
                envoy_url=stack.envoy_url,
                metrics={name: stack.metrics_url(name) for name in METRICS_PORTS},
            )
            sys.stdout.write(
                banner.render(
                    addresses,
                    ready.credentials,
                    workspace_slug=reuse.WORKSPACE,
                    log_dir=setup.log_dir,
                    saved_at=setup.credentials_file,
                    changes=ready.changes,
                    allow_private=setup.allow_private,
                )
            )
            sys.stdout.flush()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            log.info("stopping")
    except StackError as error:
        raise ConfigError(str(error)) from None


def main() -> None:
    try:
        setup = prepare()
    except ConfigError as error:
        sys.stderr.write(f"configuration error: {error}\n")
        raise SystemExit(2) from None
    entrypoint.run(lambda: serve(setup))


if __name__ == "__main__":
    main()
