"""The demo's clear credentials, kept in a private file so `make run` can reuse them.

The database keeps only hashes, so the one copy a restart can show again is this file
(mode 0600, in the state directory beside the embedded database).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Secret:
    """A resource and the credential that was shown once for it."""

    name: str  # resource name, e.g. workspaces/{w}/ingestEndpoints/{e}
    secret: str


@dataclass
class DemoCredentials:
    workspace: str = ""  # resource name workspaces/{id}
    admin_token: str = ""
    endpoints: dict[str, Secret] = field(default_factory=dict)  # entity type slug → endpoint
    ingest_key: Secret | None = None  # of the demo stream
    api_key: Secret | None = None  # push transfer's workspace API key
    push_session: Secret | None = None  # the session, and its webhook signing secret
    project_token: Secret | None = None  # integration ingest's server token
    client_token: Secret | None = None  # the external form's token
    read_key: Secret | None = None  # the demo stream's read key (its live feed)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Any) -> DemoCredentials:
        """What a file holds; anything malformed is dropped (and then made again)."""
        if not isinstance(raw, dict):
            return cls()
        key = _secret(raw.get("ingest_key"))
        endpoints = raw.get("endpoints")
        return cls(
            workspace=_text(raw.get("workspace")),
            admin_token=_text(raw.get("admin_token")),
            endpoints={
                slug: found
                for slug, value in (endpoints.items() if isinstance(endpoints, dict) else ())
                if (found := _secret(value)) is not None
            },
            ingest_key=key,
            api_key=_secret(raw.get("api_key")),
            push_session=_secret(raw.get("push_session")),
            project_token=_secret(raw.get("project_token")),
            client_token=_secret(raw.get("client_token")),
            read_key=_secret(raw.get("read_key")),
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _secret(raw: Any) -> Secret | None:
    if not isinstance(raw, dict):
        return None
    name, secret = _text(raw.get("name")), _text(raw.get("secret"))
    return Secret(name, secret) if name and secret else None


def load(path: Path) -> DemoCredentials:
    """The saved credentials, or none when the file is missing or unreadable."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return DemoCredentials()
    try:
        return DemoCredentials.from_json(json.loads(text))
    except ValueError:
        log.warning("demo credentials file is not JSON; making new ones", extra={"path": str(path)})
        return DemoCredentials()


def save(path: Path, credentials: DemoCredentials) -> None:
    """Write the file whole and private: a temporary 0600 file renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            json.dump(credentials.as_json(), out, indent=2)
            out.write("\n")
        os.chmod(temporary, 0o600)  # an existing temporary keeps its mode through O_CREAT
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
