"""PostgreSQL for local runs and tests: embedded (pgserver) unless a URL is given."""

from __future__ import annotations

import atexit
import os
import secrets
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def embedded(data_dir: Path, *, cleanup: str = "stop") -> tuple[str, Any]:
    """Start (or join) an embedded server in `data_dir`; returns its URL and handle.

    cleanup: "stop" stops the server when this process exits, "delete" also removes
    the data directory (tests), "none" leaves it running.
    """
    # Imported here: it is heavy and only the embedded path needs it. Its import asks
    # platformdirs for a runtime dir, which warns when XDG_RUNTIME_DIR is unset (CI).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    mode = None if cleanup == "none" else cleanup
    server = pgserver.get_server(data_dir, cleanup_mode=mode)  # type: ignore[attr-defined]
    return str(server.get_uri()), server


def follow_restart(server: Any) -> None:
    """Point pgserver's handle at the postmaster running the data directory now.

    pgserver stops the process it found at start; after a PostgreSQL restart that one is
    gone, and without this the new postmaster would outlive its owner."""
    with warnings.catch_warnings():  # see embedded()
        warnings.simplefilter("ignore")
        from pgserver.utils import PostmasterInfo

    current = PostmasterInfo.read_from_pgdata(server.pgdata)
    if current is not None:
        server._postmaster_info = current


def stop_at_exit(server: Any) -> None:
    """Stop the embedded server at exit even when it was restarted meanwhile."""
    # atexit runs last-registered first: this runs before pgserver's own handler.
    atexit.register(follow_restart, server)


def restart(server: Any, *, immediate: bool = True) -> None:
    """Restart the embedded server (immediate: as after a crash, no checkpoint, every
    connection cut), with the options it was started with; blocks until it is up."""
    restart_data_dir(Path(server.pgdata), immediate=immediate)
    follow_restart(server)


def restart_data_dir(data_dir: Path, *, immediate: bool = True) -> None:
    """Restart the embedded server of `data_dir` without holding a pgserver handle on it
    (a handle would make this process one of its owners)."""
    with warnings.catch_warnings():  # see embedded()
        warnings.simplefilter("ignore")
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    # As root, pgserver runs PostgreSQL as its own user; pg_ctl must run as that one too.
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(
        ["-w", "-m", "immediate" if immediate else "fast", "-l", str(data_dir / "log"), "restart"],
        pgdata=data_dir,
        user=user,
        timeout=60,
    )


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    return make_conninfo(url, dbname=dbname)


def create_database(url: str, prefix: str = "inlet_test") -> str:
    """Create a fresh, uniquely named database on the server of `url`; return its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(url, name)


def ensure_database(url: str, dbname: str) -> str:
    """Create `dbname` on the server of `url` if missing; return its URL."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    return with_database(url, dbname)


def drop_database(url: str) -> None:
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
