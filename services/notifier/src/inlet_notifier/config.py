"""The notifier's configuration, from INLET_* environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inlet_common.config import Env, ServiceSettings


@dataclass(frozen=True)
class NotifierConfig:
    service: ServiceSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> NotifierConfig:
        return cls(service=ServiceSettings.from_env(Env(environ), "127.0.0.1:50053"))
