"""Where the suite's services listen: their ports and /metrics ports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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
