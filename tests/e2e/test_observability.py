"""Metrics and traces of the suite as processes: each service's /metrics scraped over HTTP
moves with a push, and one push is one trace — gateway, matcher, store, notifier and the
webhook's traceparent — exported by OTLP to a receiver on loopback, with the request id on
every span and the trace id in the activity log."""

from __future__ import annotations

import functools
import json
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo, postgres
from inlet_devstack.demo import DemoSeed
from inlet_devstack.ports import Ports
from inlet_devstack.stack import Stack, running
from inlet_notifier import app as notifier_app
from inlet_notifier.secrets_at_rest import KeyRing
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from tests.e2e.console_support import signed_in
from tests.messages import bearer_header, key_headers
from tests.metrics_support import Scrape, scrape
from tests.otlp_receiver import ReceivedSpan, receiving
from tests.otlp_receiver import Receiver as OtlpReceiver
from tests.polling import until
from tests.stream_support import sales_stream
from tests.webhook_receiver import Receiver
from tests.webhook_receiver import receiving as receiving_webhooks

pytestmark = pytest.mark.e2e

SERVICES = ("gateway", "matcher", "store", "notifier")
PUSH_ROUTE = "/api/v1/ingest/{token}"
# The edges call the push's HTTP twin (inlet_common.httptwins).
PUSH_RPC = "/inlet.ingest.v1.IngestServiceHttp/PushEndpoint"
FAST_ENV = {
    "INLET_WEBHOOK_ALLOW_PRIVATE": "true",
    "INLET_WEBHOOK_POLL_SECONDS": "0.05",
    # Export each batch of spans within 50 ms, not the default 5 s.
    "OTEL_BSP_SCHEDULE_DELAY": "50",
    "OTEL_EXPORTER_OTLP_INSECURE": "true",
}


@pytest.fixture(scope="module")
async def otlp() -> AsyncIterator[OtlpReceiver]:
    async with receiving() as receiver:
        yield receiver


@pytest.fixture(scope="module")
async def observed(server_url: str, otlp: OtlpReceiver) -> AsyncIterator[Stack]:
    """The suite with tracing on (OTLP to the receiver), on a database of its own."""
    url = postgres.create_database(server_url, "inlet_e2e_observed")
    env = {**FAST_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint}
    logs = Path(tempfile.mkdtemp(prefix="inlet-e2e-observed-"))
    try:
        async with running(url, ports=Ports(0, 0, 0, 0), log_dir=logs, extra_env=env) as stack:
            yield stack
    finally:
        postgres.drop_database(url)


@pytest.fixture(scope="module")
async def workspace(observed: Stack) -> DemoSeed:
    async with channel(observed.address("store")) as ch:
        return await demo.seed(
            admin_pb2_grpc.AdminServiceStub(ch),
            bootstrap_token=observed.bootstrap_token,
            workspace_slug=f"o{secrets.token_hex(6)}",
        )


@pytest.fixture
async def webhook(observed: Stack, workspace: DemoSeed) -> AsyncIterator[Receiver]:
    """A receiver subscribed to the workspace's events at /hook."""
    workspace_id = workspace.workspace.rsplit("/", 1)[1]  # workspaces/<id>
    pool = await notifier_app.open_pool(observed.database_url, max_size=2)
    try:
        keys = KeyRing.parse(observed.webhook_secret_keys)
        async with receiving_webhooks() as receiver:
            made, _ = await Webhooks(pool, keys=keys, allow_private=True).create_endpoint(
                workspace_id, EndpointSpec(url=receiver.script("/hook"))
            )
            yield receiver
            await Webhooks(pool, keys=keys, allow_private=True).delete_endpoint(
                workspace_id, str(made["id"])
            )
    finally:
        await pool.close()


async def push(stack: Stack, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as client:
        answer = await client.post(
            f"/api/v1/ingest/{token}",
            json={"fields": {"name": "Ada", "email": f"{secrets.token_hex(4)}@example.com"}},
        )
    assert answer.status_code == 200, answer.text
    return answer


async def scrape_all(stack: Stack) -> dict[str, Scrape]:
    return {name: await scrape(stack.metrics_url(name)) for name in SERVICES}


async def test_each_service_serves_metrics_that_move_with_a_push(
    observed: Stack, workspace: DemoSeed, webhook: Receiver
) -> None:
    before = await scrape_all(observed)
    await push(observed, workspace.tokens["contact"])
    await until(lambda: webhook.at("/hook"), what="the webhook")

    async def moved() -> dict[str, Scrape] | None:
        after = await scrape_all(observed)
        # The attempt is counted once its answer is in: poll for it, do not assume it.
        attempts = after["notifier"].total("inlet_webhook_attempts_total", outcome="ok")
        return (
            after
            if attempts > before["notifier"].total("inlet_webhook_attempts_total", outcome="ok")
            else None
        )

    after = await until(moved, what="the delivery attempt counted")

    def grew(service: str, name: str, **labels: str) -> float:
        return after[service].total(name, **labels) - before[service].total(name, **labels)

    # The edge: by route template (never the path with its token), method and status.
    assert grew("gateway", "inlet_gateway_requests_total", route=PUSH_ROUTE, status="200") == 1
    assert grew("gateway", "inlet_gateway_request_seconds_count", route=PUSH_ROUTE) == 1
    assert not any(
        "iep_" in route
        for route in after["gateway"].labelled("inlet_gateway_requests_total", "route")
    )
    # Every gRPC service: by RPC and code, with a latency histogram.
    assert grew("matcher", "inlet_grpc_requests_total", method=PUSH_RPC, code="OK") == 1
    assert grew("matcher", "inlet_grpc_request_seconds_count", method=PUSH_RPC) == 1
    store_rpcs = {
        m
        for m in after["store"].labelled("inlet_grpc_requests_total", "method")
        if m.startswith("/inlet.store.v1.StoreService/")
        and grew("store", "inlet_grpc_requests_total", method=m, code="OK") >= 1
    }
    assert store_rpcs, "the push reached the store"
    assert grew("store", "inlet_grpc_request_seconds_count") >= 1
    assert grew("notifier", "inlet_webhook_attempt_seconds_count") >= 1
    # Pools, inbox and outbox, deliveries: present and sane.
    for service in ("store", "notifier"):
        assert after[service].total("inlet_db_pool_max_connections", pool="main") > 0
        assert after[service].total("inlet_db_pool_connections", pool="main") >= 1
        assert after[service].has("inlet_db_pool_in_use_connections")
        assert after[service].has("inlet_db_pool_waiting")
    for gauge in (
        "inlet_inbox_queued_requests",
        "inlet_inbox_processing_requests",
        "inlet_inbox_oldest_age_seconds",
        "inlet_outbox_events",
        "inlet_outbox_lag_seconds",
    ):
        assert after["store"].has(gauge), gauge
        assert after["store"].total(gauge) >= 0
    for gauge in (
        "inlet_webhook_deliveries_pending",
        "inlet_webhook_deliveries_due",
        "inlet_webhook_delivery_lag_seconds",
    ):
        assert after["notifier"].has(gauge), gauge


async def test_a_twin_call_is_counted_with_the_http_status_it_answered(
    observed: Stack, workspace: DemoSeed
) -> None:
    """A twin's call ends OK whatever it answers (its status is x-http-code): the count
    names that status too, so a refused push is not an unlabelled success."""
    before = await scrape(observed.metrics_url("matcher"))
    async with httpx.AsyncClient(base_url=observed.gateway_url, timeout=10) as client:
        refused = await client.post(
            f"/api/v1/ingest/{workspace.tokens['contact']}", json={"fields": {"email": "x"}}
        )
    assert refused.status_code == 400, refused.text
    labels = {"method": PUSH_RPC, "code": "OK", "http_code": "400"}

    async def counted() -> Scrape | None:
        after = await scrape(observed.metrics_url("matcher"))
        grew = after.total("inlet_grpc_requests_total", **labels) - before.total(
            "inlet_grpc_requests_total", **labels
        )
        return after if grew == 1 else None

    await until(counted, what="the refused push counted with its HTTP status")
    # Typed RPCs (the store's, called by the matcher) carry no HTTP status.
    store = await scrape(observed.metrics_url("store"))
    assert "" in store.labelled("inlet_grpc_requests_total", "http_code")


def _by_service(spans: list[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    found: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        found.setdefault(span.service, []).append(span)
    return found


async def test_one_push_is_one_trace_across_every_hop_with_its_request_id(
    observed: Stack, workspace: DemoSeed, webhook: Receiver, otlp: OtlpReceiver
) -> None:
    answer = await push(observed, workspace.tokens["contact"])
    request_id = answer.headers["x-request-id"]
    got = await until(lambda: webhook.at("/hook"), what="the webhook")
    # The webhook carries the trace on: traceparent 00-<trace id>-<delivery span>-<flags>.
    version, trace_id, parent_id, flags = got[0].headers["traceparent"].split("-")
    assert version == "00"
    assert int(flags, 16) & 1  # sampled

    def every_hop() -> dict[str, list[ReceivedSpan]] | None:
        services = _by_service(otlp.trace(trace_id))
        return services if set(services) >= {f"inlet-{s}" for s in SERVICES} else None

    hops = await until(every_hop, what="spans of every service in one trace")
    spans = {s.span_id: s for s in otlp.trace(trace_id)}
    (edge,) = hops["inlet-gateway"]
    assert edge.name == f"POST {PUSH_ROUTE}"
    assert edge.parent_span_id == ""  # the trace starts at the edge
    assert edge.attributes["http.route"] == PUSH_ROUTE
    assert edge.attributes["http.response.status_code"] == 200
    matcher = [s for s in hops["inlet-matcher"] if s.name == PUSH_RPC.lstrip("/")]
    assert len(matcher) == 1
    assert matcher[0].parent_span_id == edge.span_id
    store = [s for s in hops["inlet-store"] if s.parent_span_id == matcher[0].span_id]
    assert store, "the store's span continues the matcher's"
    (delivery,) = [s for s in hops["inlet-notifier"] if s.name == "webhook deliver"]
    # The delivery continues the change that wrote the event, and the webhook continues it.
    assert spans[delivery.parent_span_id].service == "inlet-store"
    assert delivery.span_id == parent_id
    assert delivery.attributes["http.response.status_code"] == 200
    assert delivery.attributes["inlet.webhook.event_id"] == got[0].webhook_id
    # The request id the client got is on every span of the trace.
    for span in spans.values():
        assert span.attributes.get("inlet.request_id") == request_id, span
    # And the trace id is on the log lines of that request, in every service.
    for name in SERVICES:
        await until(
            functools.partial(logged_under, observed, name, request_id, trace_id),
            what=f"the {name}'s log lines of the request with its trace id",
        )


def logged_under(stack: Stack, name: str, request_id: str, trace_id: str) -> bool:
    """Whether service `name` wrote a JSON log line of `request_id` with `trace_id`."""
    path = stack.services[name].log_path
    assert path is not None
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("request_id") == request_id and entry.get("trace_id") == trace_id:
                return True
    return False


async def test_the_activity_log_names_each_requests_trace(
    observed: Stack, workspace: DemoSeed, otlp: OtlpReceiver
) -> None:
    answer = await push(observed, workspace.tokens["contact"])
    request_id = answer.headers["x-request-id"]
    async with httpx.AsyncClient(base_url=observed.gateway_url, timeout=10) as client:
        listed = await client.get(
            f"/admin/v1/{workspace.endpoints['contact']}/activityEntries",
            headers=bearer_header(workspace.admin_token),
        )
    assert listed.status_code == 200, listed.text
    entries: list[dict[str, Any]] = listed.json()["activity_entries"]
    (entry,) = [e for e in entries if e["request_id"] == request_id]
    trace_id = entry["trace_id"]
    assert len(trace_id) == 32
    assert int(trace_id, 16)
    # The console's activity log shows it too.
    workspace_id = workspace.workspace.split("/", 1)[1]
    async with signed_in(observed.gateway_url, workspace_id, workspace.admin_token) as console:
        endpoint = workspace.endpoints["contact"].rsplit("/", 1)[1]
        page = await console.get(f"/console/endpoints/{endpoint}/activity")
    assert page.status_code == 200, page.text
    assert f'<code data-testid="trace-id">{trace_id}</code>' in page.text
    # The id names the trace that request's spans were exported under.
    await until(
        lambda: any(
            s.attributes.get("inlet.request_id") == request_id for s in otlp.trace(trace_id)
        ),
        what="the request's spans under the logged trace id",
    )


async def test_a_stream_request_is_one_trace_from_its_202_through_the_worker_to_its_webhooks(
    observed: Stack, workspace: DemoSeed, webhook: Receiver, otlp: OtlpReceiver
) -> None:
    async with channel(observed.address("store")) as ch:
        sales = await sales_stream(
            admin_pb2_grpc.AdminServiceStub(ch),
            streams_pb2_grpc.StreamAdminServiceStub(ch),
            workspace,
        )
    async with httpx.AsyncClient(base_url=observed.gateway_url, timeout=10) as client:
        answer = await client.post(
            "/api/ingest", json={"region": "West", "revenue": 1}, headers=key_headers(sales.key)
        )
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["data"]["request_id"]
    got = await until(
        lambda: [r for r in webhook.at("/hook") if request_id.encode() in r.body],
        what="the stream request's webhooks",
    )
    trace_id = got[0].headers["traceparent"].split("-")[1]

    def worked() -> list[ReceivedSpan] | None:
        spans = otlp.trace(trace_id)
        names = {s.name for s in spans}
        wanted = {"POST /api/ingest", "inbox process", "webhook deliver"}
        return spans if wanted <= names else None

    spans = {s.span_id: s for s in await until(worked, what="the worker's spans in the trace")}
    (edge,) = [s for s in spans.values() if s.name == "POST /api/ingest"]
    assert edge.attributes["http.response.status_code"] == 202
    (work,) = [s for s in spans.values() if s.name == "inbox process"]
    assert work.service == "inlet-matcher"
    # The worker continues the store's span that accepted the request.
    assert spans[work.parent_span_id].service == "inlet-store"
    assert work.attributes["inlet.request_id"] == request_id
    # Every webhook of the request (each record, then request.completed) in that trace.
    assert {r.headers["traceparent"].split("-")[1] for r in got} == {trace_id}
