"""`python -m inlet_devstack` (what `make run` runs): PostgreSQL, migrations, every
service, a demo workspace and endpoint, and a curl that works as printed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import signal
import sys
from pathlib import Path

from inlet.admin.v1 import admin_pb2_grpc
from inlet_common import entrypoint, logs
from inlet_common.channels import channel
from inlet_common.config import ConfigError, Env
from inlet_devstack import demo, postgres
from inlet_devstack.stack import Ports, StackError, running
from inlet_notifier.config import KEYS_ENV
from inlet_notifier.secrets_at_rest import KeyRing, new_key_ring

log = logging.getLogger("inlet_devstack")

SAMPLE = {"fields": {"name": "Ola Nordmann", "email": "ola@acme.no", "phone": "+4799887766"}}


def _port(env: Env, key: str, default: int) -> int:
    return env.integer(key, default, maximum=65535)


def webhook_secret_keys(env: Env, keys_file: Path) -> str:
    """INLET_WEBHOOK_SECRET_KEYS if set, else the key ring kept in `keys_file`, made once.

    Kept, not fresh per run: the database keeps secrets sealed under it across runs."""
    given = env.optional(KEYS_ENV)
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
            log.info("webhook secret key ring created", extra={"path": str(keys_file)})
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    text = keys_file.read_text().strip()
    try:
        KeyRing.parse(text)
    except ValueError as error:
        raise ConfigError(f"{keys_file} ({KEYS_ENV}): {error}") from None
    return text


def prepare() -> tuple[str, Ports, Path, str]:
    """Blocking set-up before the event loop: database, ports, log directory, key ring."""
    env = Env(os.environ)
    logs.configure("devstack", env.text("INLET_LOG_LEVEL", "INFO"))
    # pgserver narrates every pg_ctl call and httpx every health probe: noise at INFO.
    for chatty in ("pgserver", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    url = env.optional("INLET_DATABASE_URL")
    data_dir = Path(env.text("INLET_DATA_DIR", ".inlet/pgdata")).resolve()
    # Beside the data directory (default .inlet/webhook-secret-keys), not in it: that
    # one is PostgreSQL's own.
    keys = webhook_secret_keys(env, data_dir.parent / "webhook-secret-keys")
    if url is None:
        server_url, _server = postgres.embedded(data_dir, cleanup="stop")
        url = postgres.ensure_database(server_url, "inlet")
        log.info("embedded PostgreSQL running", extra={"data_dir": str(data_dir)})
    ports = Ports(
        gateway=_port(env, "INLET_GATEWAY_PORT", 8080),
        matcher=_port(env, "INLET_MATCHER_PORT", 50051),
        store=_port(env, "INLET_STORE_PORT", 50052),
        notifier=_port(env, "INLET_NOTIFIER_PORT", 50053),
    )
    log_dir = Path(env.text("INLET_LOG_DIR", ".inlet/logs")).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    return url, ports, log_dir, keys


async def serve(url: str, ports: Ports, log_dir: Path, keys: str) -> None:
    try:
        async with running(url, ports=ports, log_dir=log_dir, webhook_secret_keys=keys) as stack:
            async with channel(stack.address("store")) as ch:
                seeded = await demo.seed(
                    admin_pb2_grpc.AdminServiceStub(ch), bootstrap_token=stack.bootstrap_token
                )
            token = seeded.tokens["contact"]
            curl = " ".join(
                [
                    "curl -sS -X POST",
                    shlex.quote(f"{stack.gateway_url}/api/v1/ingest/{token}"),
                    "-H 'Content-Type: application/json'",
                    "-d",
                    shlex.quote(json.dumps(SAMPLE)),
                ]
            )
            sys.stdout.write(
                "\ninlet is running.\n"
                f"  gateway   {stack.gateway_url}\n"
                f"  matcher   {stack.address('matcher')} (gRPC IngestService)\n"
                f"  store     {stack.address('store')} (gRPC StoreService, AdminService)\n"
                f"  notifier  {stack.address('notifier')} (gRPC NotifierService)\n"
                f"  logs      {log_dir}/\n"
                f"  workspace {seeded.workspace} (contact, company, deal)\n\n"
                "Push a contact (the URL is the credential; shown once):\n\n"
                f"  {curl}\n\n"
                f"Deal endpoint: {stack.gateway_url}/api/v1/ingest/{seeded.tokens['deal']}\n\n"
                "Operate it with the inlet CLI (the admin token is shown once):\n\n"
                f"  export INLET_ADMIN_URL={stack.address('store')}\n"
                f"  export INLET_WORKSPACE={seeded.workspace.removeprefix('workspaces/')}\n"
                f"  export INLET_ADMIN_TOKEN={seeded.admin_token}\n"
                "  .venv/bin/inlet endpoints list\n\n"
                "Ctrl-C stops everything.\n"
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
        url, ports, log_dir, keys = prepare()
    except ConfigError as error:
        sys.stderr.write(f"configuration error: {error}\n")
        raise SystemExit(2) from None
    entrypoint.run(lambda: serve(url, ports, log_dir, keys))


if __name__ == "__main__":
    main()
