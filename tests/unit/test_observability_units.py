"""Metrics and tracing plumbing without a network: which OTEL_* settings turn tracing on,
the no-op when off, the HTTP middleware's counting, pool gauges and scrape-time queries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from inlet_common import httpobserve, metrics, tracing
from inlet_common.config import ConfigError, Env, ServiceSettings
from inlet_gateway.config import GatewayConfig
from tests.metrics_support import scrape

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, None),
        (ENDPOINT, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, None),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, None),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "TRUE"}, None),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "false"}, "otlp"),
        ({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "otlp"),
        ({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, None),
        ({**ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, None),
    ],
)
def test_tracing_is_off_unless_the_standard_variables_ask(
    environ: Mapping[str, str], wanted: str | None
) -> None:
    assert tracing._wanted(environ) == wanted


def test_an_exporter_this_build_lacks_turns_tracing_off_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert tracing._wanted({**ENDPOINT, "OTEL_TRACES_EXPORTER": "zipkin"}) is None
    assert "zipkin" in caplog.text


def test_configure_leaves_tracing_off_without_the_variables() -> None:
    assert tracing.configure("store", {}) is False
    assert not tracing.enabled()


def test_off_costs_nothing_and_carries_nothing() -> None:
    with tracing.span("x", parent={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) as s:
        assert s is None
        assert tracing.outgoing() == ()
        assert tracing.traceparent() is None
        assert tracing.trace_id() is None
    tracing.fail(None, "nothing to mark")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", False),
        ("not a traceparent", False),
        ("", False),
    ],
)
def test_a_traceparent_is_read_only_when_well_formed(value: str, valid: bool) -> None:
    found = tracing.span_context_of(value)
    assert (found is not None) == valid
    if found is not None:
        assert format(found.trace_id, "032x") == value.split("-")[1]


def test_metrics_settings_name_their_keys() -> None:
    settings = ServiceSettings.from_env(
        Env(
            {
                "INLET_METRICS_PORT": "0",
                "INLET_METRICS_HOST": "0.0.0.0",
                "INLET_METRICS_PORT_FILE": "/tmp/m",
            }
        ),
        "127.0.0.1:0",
    )
    assert (settings.metrics_port, settings.metrics_host, settings.metrics_port_file) == (
        0,
        "0.0.0.0",
        "/tmp/m",
    )
    assert ServiceSettings.from_env(Env({}), "127.0.0.1:0").metrics_port is None
    with pytest.raises(ConfigError, match="INLET_METRICS_PORT"):
        ServiceSettings.from_env(Env({"INLET_METRICS_PORT": "65536"}), "127.0.0.1:0")
    gateway = GatewayConfig.from_env({"INLET_METRICS_PORT": "0", "INLET_METRICS_HOST": "::"})
    assert (gateway.metrics_port, gateway.metrics_host) == (0, "::")


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_http_middleware_counts_by_route_template_and_status() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope[httpobserve.ROUTE_SCOPE_KEY] = "/things/{thing}"
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    labels = {"route": "/things/{thing}", "method": "PUT", "status": "201"}
    before = _sample("inlet_gateway_requests_total", labels)
    scope = {"type": "http", "method": "PUT", "path": "/things/secret", "headers": []}
    await httpobserve.ObservedApp(app)(scope, receive, send)
    assert _sample("inlet_gateway_requests_total", labels) == before + 1
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


async def test_a_request_that_never_answered_counts_as_unmatched_status_0() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    labels = {"route": "unmatched", "method": "GET", "status": "0"}
    before = _sample("inlet_gateway_requests_total", labels)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    with pytest.raises(RuntimeError):
        await httpobserve.ObservedApp(app)(scope, _never, _never)
    assert _sample("inlet_gateway_requests_total", labels) == before + 1


async def test_other_scopes_pass_through_uncounted() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await httpobserve.ObservedApp(app)({"type": "lifespan"}, _never, _never)
    assert seen == ["lifespan"]


async def _never(*args: Any) -> Any:
    raise AssertionError("not called")


class _Pool:
    def __init__(self, stats: dict[str, int]) -> None:
        self.stats = stats

    def get_stats(self) -> dict[str, int]:
        return self.stats


def test_pool_gauges_show_size_idle_in_use_waiting_and_maximum() -> None:
    collector = metrics.PoolCollector()
    pool = _Pool({"pool_size": 5, "pool_available": 2, "pool_max": 20, "requests_waiting": 1})
    collector.watch("main", pool)  # type: ignore[arg-type]
    found = {
        (sample.name, sample.labels["pool"]): sample.value
        for family in collector.collect()
        for sample in family.samples
    }
    assert found == {
        ("inlet_db_pool_connections", "main"): 5,
        ("inlet_db_pool_idle_connections", "main"): 2,
        ("inlet_db_pool_max_connections", "main"): 20,
        ("inlet_db_pool_waiting", "main"): 1,
        ("inlet_db_pool_in_use_connections", "main"): 3,
    }
    collector.forget(pool)  # type: ignore[arg-type]
    assert all(not family.samples for family in collector.collect())


GAUGES: metrics.Gauges = {"depth": ("test_depth", "Depth"), "age": ("test_age", "Age")}


def _values(collector: metrics.QueryGauges) -> dict[str, float]:
    return {s.name: s.value for family in collector.collect() for s in family.samples}


async def test_scrape_time_gauges_run_one_query_per_cache_period() -> None:
    reads: list[int] = []

    async def read() -> Mapping[str, Any]:
        reads.append(1)
        return {"depth": 7, "age": None}

    collector = metrics.QueryGauges(read, GAUGES, loop=asyncio.get_running_loop())
    # Scrapes come from the metrics server's thread, never the loop's.
    assert await asyncio.to_thread(_values, collector) == {"test_depth": 7.0, "test_age": 0.0}
    assert await asyncio.to_thread(_values, collector) == {"test_depth": 7.0, "test_age": 0.0}
    assert len(reads) == 1
    assert [d.name for d in collector.describe()] == ["test_depth", "test_age"]
    assert len(reads) == 1  # describing (on register) runs no query


async def test_a_failing_or_slow_query_leaves_its_gauges_out_of_that_scrape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers: list[Any] = [RuntimeError("database away"), {"depth": 3, "age": 1.5}]

    async def read() -> Mapping[str, Any]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    collector = metrics.QueryGauges(read, GAUGES, loop=asyncio.get_running_loop(), cache_seconds=0)
    with caplog.at_level(logging.WARNING):
        assert await asyncio.to_thread(_values, collector) == {}
    assert "database away" in caplog.records[-1].__dict__["error"]
    assert await asyncio.to_thread(_values, collector) == {"test_depth": 3.0, "test_age": 1.5}

    release = asyncio.Event()

    async def hangs() -> Mapping[str, Any]:
        await release.wait()
        return {}

    slow = metrics.QueryGauges(hangs, GAUGES, loop=asyncio.get_running_loop(), timeout=0.05)
    assert await asyncio.to_thread(_values, slow) == {}
    release.set()


async def test_metrics_are_served_on_the_port_given_and_written_to_the_port_file(
    tmp_path: Path,
) -> None:
    port_file = tmp_path / "metrics.port"
    port = metrics.serve_metrics(0, port_file=str(port_file))
    assert port is not None
    assert port_file.read_text().strip() == str(port)

    for _ in range(2):  # one scrape after another: the server keeps serving
        found = await scrape(f"http://127.0.0.1:{port}/metrics")
        assert found.has("python_info")


def test_metrics_are_not_served_without_a_port() -> None:
    assert metrics.serve_metrics(None) is None
