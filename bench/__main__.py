"""`python -m bench` (`make bench`): endpoint push through the whole suite beside its ceiling."""

from __future__ import annotations

import asyncio
import os
import sys

import uvloop

from bench import environment
from bench.ceiling import RawCeiling
from bench.config import Settings
from bench.cpu import POSTGRES, CpuProbe
from bench.endpoint_push import EndpointPushChain
from bench.minimal_path import MinimalPath
from bench.report import Ratio, render
from bench.scenario import Result, Scenario
from bench.stream_ingest import POLL_SECONDS, StreamSettings
from bench.stream_ingest import scenarios as stream_scenarios
from bench.webhooks import WebhookDeliveries
from bench.workload import contact_pushes
from inlet_common.config import ConfigError
from inlet_devstack.stack import StackError


def progress(message: str) -> None:
    sys.stderr.write(f"bench: {message}\n")
    sys.stderr.flush()


async def run(database_url: str, settings: Settings, streams: StreamSettings) -> str:
    workload = contact_pushes(
        settings.warmup, settings.requests, seed=settings.seed, new_share=settings.new_share
    )
    progress("starting the suite (store, notifier, matcher, gateway)")
    async with environment.suite(database_url) as suite:
        postgres = await environment.postgres_pid(database_url)
        probe = CpuProbe({"bench": os.getpid(), **suite.processes, POSTGRES: postgres})
        chain = EndpointPushChain(
            suite.push_url, workload, concurrency=settings.concurrency, probe=probe
        )
        ceiling = RawCeiling(
            database_url,
            suite.target,
            workload,
            concurrency=settings.concurrency,
            pool_size=settings.pool_size,
            probe=probe,
        )
        keyed = EndpointPushChain(
            suite.push_url,
            workload,
            concurrency=settings.concurrency,
            probe=probe,
            idempotency_keys=True,
        )
        minimal = MinimalPath(
            database_url,
            workload,
            concurrency=settings.concurrency,
            pool_size=settings.pool_size,
            postgres=postgres,
        )
        scenarios: list[Scenario] = [minimal, chain, keyed, ceiling]
        scenarios.append(WebhookDeliveries(database_url, settings.requests))
        scenarios += await stream_scenarios(
            suite.gateway_url, database_url, suite.target, streams, probe
        )
        results: dict[str, Result] = {}
        for scenario in scenarios:
            await environment.reset(database_url)
            progress(f"{scenario.name}: {settings.warmup} warm-up + {settings.requests} measured")
            results[scenario.name] = await scenario.run()
    title = (
        f"inlet bench — endpoint push, {settings.requests} requests, "
        f"{settings.concurrency} in flight ({settings.cores} cores)"
    )
    notes = [
        f"workload: {workload.expected_creates} new e-mails, "
        f"{settings.requests - workload.expected_creates} repeats (seed {settings.seed}); "
        f"ceiling pool {settings.pool_size} connections, as the store's"
    ]
    ratios = [
        Ratio("ratio chain/minimal", results[chain.name], results[minimal.name]),
        Ratio("ratio keyed/minimal", results[keyed.name], results[minimal.name]),
        Ratio("ratio chain/ceiling", results[chain.name], results[ceiling.name]),
    ]
    ratios.append(Ratio("ratio keyed/chain", results[keyed.name], results[chain.name]))
    ratios.append(Ratio("ratio arrays/COPY", *(results[s.name] for s in scenarios[-2:])))
    notes.append(
        f"stream: accept→visible = send to completed in PostgreSQL (polled every"
        f" {POLL_SECONDS * 1000:g} ms); (items) rows count items/s, p-columns are per array"
    )
    return render(title, list(results.values()), ratios, notes, cores=settings.cores)


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
        streams = StreamSettings.from_env(os.environ)
    except ConfigError as error:
        sys.stderr.write(f"bench: configuration error: {error}\n")
        return 2
    try:
        with (
            environment.database(settings.database_url) as database_url,
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
        ):
            table = runner.run(run(database_url, settings, streams))
    except StackError as error:
        sys.stderr.write(f"bench: the suite did not start: {error}\n")
        return 1
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
