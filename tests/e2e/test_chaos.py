"""Faults under load, in CI: a mixed load over every dialect while each service is killed
with -9 in turn (its launcher restarts it) and PostgreSQL restarts at once; afterwards
every acknowledged request is one stored record with its values, announced by one webhook
event, and the chain answered again within 10 s of each fault (bench.mixed, `make chaos`)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from bench.mixed.chaos import FAULTS, run_chaos
from bench.mixed.suite import mixed_suite

pytestmark = pytest.mark.e2e

log = logging.getLogger(__name__)


def read_logs(log_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in log_dir.iterdir()}


async def test_nothing_acknowledged_is_lost_or_doubled_through_kills_and_a_postgres_restart() -> (
    None
):
    log_dir = Path(tempfile.mkdtemp(prefix="inlet-chaos-logs-"))
    async with mixed_suite(log_dir) as suite:
        report = await run_chaos(
            suite, warmup_seconds=2.0, between_seconds=1.5, recover_within=10.0, settle_within=45.0
        )
        targets = suite.targets
        credentials = [
            targets.endpoint_token,
            targets.ingest_key,
            targets.project_token,
            targets.api_key,
            suite.credentials.admin_token,
        ]
    log.warning("%s", report.render())
    assert [r.fault for r in report.recoveries] == list(FAULTS)
    for found in report.recoveries:
        assert found.seconds is not None, (
            f"no answer within 10 s of {found.fault}\n{report.render()}"
        )
    verdict = report.verdict
    assert verdict.ok, report.render()
    assert set(verdict.by_dialect) == {"endpoint", "stream", "integration", "transfer"}
    assert verdict.acknowledged >= 40, report.render()
    # The services' logs after it all: no credential, and no line per outbound HTTP request
    # beside the notifier's own per attempt.
    logs = read_logs(log_dir)
    assert {"gateway.log", "matcher.log", "store.log", "notifier.log"} <= set(logs)
    for name, text in logs.items():
        for secret in credentials:
            assert secret not in text, f"a credential ({secret[:8]}…) is in {name}"
    assert "HTTP Request:" not in logs["notifier.log"]
