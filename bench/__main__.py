"""`python -m bench` (`make bench`): endpoint push through the whole suite beside its ceiling."""

from __future__ import annotations

import asyncio
import os
import sys

import uvloop

from bench import environment, hostspeed
from bench.ceiling import RawCeiling
from bench.config import Settings
from bench.cpu import POSTGRES, CpuProbe, peak_rss_mb
from bench.endpoint_push import EndpointPushChain
from bench.feed import FeedLatency
from bench.minimal_path import MinimalPath
from bench.report import Ratio, render
from bench.scenario import Result, Scenario
from bench.stream_ingest import POLL_SECONDS, StreamSettings, create_stream
from bench.stream_ingest import scenarios as stream_scenarios
from bench.webhooks import WebhookDeliveries
from bench.workload import contact_pushes
from inlet_common.config import ConfigError
from inlet_devstack.processes import StackError


def progress(message: str) -> None:
    sys.stderr.write(f"bench: {message}\n")
    sys.stderr.flush()


async def run(database_url: str, settings: Settings, streams: StreamSettings) -> str:
    workload = contact_pushes(
        settings.warmup, settings.requests, seed=settings.seed, new_share=settings.new_share
    )
    speed_before = hostspeed.loop_seconds()
    progress("starting the suite (store, notifier, matcher, gateway, Envoy)")
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
        # The same pushes through Envoy's transcoder (the gateway's twin path, same services).
        via_envoy = EndpointPushChain(
            suite.envoy_push_url,
            workload,
            concurrency=settings.concurrency,
            probe=probe,
            name="full chain via Envoy",
        )
        scenarios: list[Scenario] = [minimal, chain, keyed, via_envoy, ceiling]
        scenarios.append(WebhookDeliveries(database_url, settings.requests))
        scenarios.append(
            WebhookDeliveries(database_url, settings.requests, rate=1500, seconds=streams.seconds)
        )
        scenarios += await stream_scenarios(
            suite.gateway_url, database_url, suite.target, streams, probe
        )
        # The live feed at the lowest steady stream rate (the one the machine keeps up with).
        scenarios += [
            FeedLatency(
                suite.gateway_url,
                database_url,
                await create_stream(database_url, suite.target),
                rate=min(streams.rates),
                seconds=streams.seconds,
                probe=probe,
                from_processing=from_processing,
            )
            for from_processing in (False, True)
        ]
        results: dict[str, Result] = {}
        # INLET_BENCH_ONLY=word,…: only the lines whose name contains one of the words.
        only = [w.strip() for w in os.environ.get("INLET_BENCH_ONLY", "").split(",") if w.strip()]
        for scenario in scenarios:
            if only and not any(w in scenario.name for w in only):
                continue
            await environment.reset(database_url)
            progress(f"{scenario.name}: {settings.warmup} warm-up + {settings.requests} measured")
            results[scenario.name] = await scenario.run()
        peaks = {name: peak_rss_mb(pid) for name, pid in suite.processes.items()}
    speed_after = hostspeed.loop_seconds()
    title = (
        f"inlet bench — endpoint push, {settings.requests} requests, "
        f"{settings.concurrency} in flight ({settings.cores} cores)"
    )
    notes = [
        f"workload: {workload.expected_creates} new e-mails, "
        f"{settings.requests - workload.expected_creates} repeats (seed {settings.seed}); "
        f"ceiling pool {settings.pool_size} connections, as the store's"
    ]
    pairs = [
        ("ratio chain/minimal", chain.name, minimal.name),
        ("ratio keyed/minimal", keyed.name, minimal.name),
        ("ratio chain/ceiling", chain.name, ceiling.name),
        ("ratio keyed/chain", keyed.name, chain.name),
        ("ratio envoy/gateway", via_envoy.name, chain.name),
        # The feed's two rows come last, after arrays and their COPY ceiling.
        ("ratio arrays/COPY", scenarios[-4].name, scenarios[-3].name),
    ]
    ratios = [
        Ratio(n, results[a], results[b]) for n, a, b in pairs if a in results and b in results
    ]
    notes.append(
        f"stream: accept→visible = send to completed in PostgreSQL (polled every"
        f" {POLL_SECONDS * 1000:g} ms); (items) rows count items/s, p-columns are per array"
    )
    notes.append(
        "feed: push→SSE = send of a single-item request to its change on an SSE subscriber"
        " of the stream through the gateway; processed→SSE = from the item's apply (its"
        " change time, in the transaction) to that receipt"
    )
    notes.append(
        "peak RSS (MB): " + ", ".join(f"{name} {mb:.0f}" for name, mb in sorted(peaks.items()))
    )
    notes.append(
        f"host speed: {hostspeed.LOOP_ADDITIONS:,} additions in a Python loop took"
        f" {speed_before:.2f} s before the rows and {speed_after:.2f} s after"
        " (the same code's figures move with it: compare runs of like speed)"
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
