"""The checked-in Envoy edge (deploy/envoy/envoy.yaml) in front of a real gRPC server.

A stub IngestService runs on port 0; the real config is rendered with its ports set to 0
(Envoy reports the ones it bound through its admin API) and the descriptor path made
absolute, and a real Envoy from the virtualenv serves it. The requests go over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inlet.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from inlet.type.v1 import result_pb2
from tests.integration.gateway_fixtures import PushOnlyIngest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "envoy" / "envoy.yaml"
DESCRIPTOR = ROOT / "gen" / "inlet.binpb"
ENVOY = Path(sys.executable).parent / "envoy"
SERVICE = "inlet.ingest.v1.IngestService"
START_DEADLINE_S = 30.0


class StubIngest(PushOnlyIngest):
    """Answers by token and records each call's metadata."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def PushEndpoint(
        self, request: ingest_pb2.PushEndpointRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ingest_pb2.PushEndpointResponse:
        metadata = {key: str(value) for key, value in context.invocation_metadata() or ()}
        self.calls.append((request.token, metadata))
        if request.token == "missing":
            detail = any_pb2.Any()
            info = error_details_pb2.ErrorInfo(reason="ENDPOINT_NOT_FOUND", domain="inlet.dev")
            detail.Pack(info)
            status = status_pb2.Status(
                code=code_pb2.NOT_FOUND, message="no such endpoint", details=[detail]
            )
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                status.message,
                trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
            )
        if request.token == "replayed":
            await context.send_initial_metadata(
                (("idempotency-replayed", "true"), ("ratelimit-remaining", "41"))
            )
        if request.token in {"accepted", "accepted-then-fails"}:
            await context.send_initial_metadata((("x-http-code", "202"),))
        if request.token == "accepted-then-fails":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "unique fields conflict")
        return ingest_pb2.PushEndpointResponse(
            record=result_pb2.EntityResult(id="r1", action="created"),
            related={
                "contact": result_pb2.EntityResult(id="c1", action="updated", matched_on=["email"])
            },
        )


@dataclass
class Upstream:
    port: int
    servicer: StubIngest


@dataclass
class Edge:
    url: str
    admin_url: str
    log: Path


# One stub and one Envoy serve the whole module; each test starts with no recorded calls.
@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[Upstream]:
    servicer = StubIngest()
    server = grpc.aio.server()
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
    # Envoy's cluster health-checks the service by name before it reports ready.
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    try:
        yield Upstream(port, servicer)
    finally:
        await server.stop(None)


def substitute(text: str, old: str, new: str) -> str:
    """Replace `old`, which must occur exactly once, so a config change fails loudly here."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in {CONFIG}"
    return text.replace(old, new)


def render_config(tmp_path: Path, upstream_port: int) -> Path:
    text = CONFIG.read_text()
    text = substitute(text, "port_value: 8081", "port_value: 0")
    text = substitute(text, "port_value: 9901", "port_value: 0")
    text = substitute(
        text,
        "{ address: 127.0.0.1, port_value: 50051 }",
        f"{{ address: 127.0.0.1, port_value: {upstream_port} }}",
    )
    text = substitute(text, "proto_descriptor: gen/inlet.binpb", f"proto_descriptor: {DESCRIPTOR}")
    rendered = tmp_path / "envoy.yaml"
    rendered.write_text(text)
    return rendered


def read(path: Path) -> str:
    """A small file's text, or "" while it does not exist yet."""
    return path.read_text() if path.exists() else ""


async def wait_for_admin(envoy: asyncio.subprocess.Process, address_file: Path, log: Path) -> str:
    """Poll until Envoy's admin answers /ready (clusters warmed, listeners up)."""
    deadline = time.monotonic() + START_DEADLINE_S
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if envoy.returncode is not None:
                pytest.fail(f"envoy exited with {envoy.returncode}:\n{read(log)}")
            address = read(address_file).strip()
            if address:
                try:
                    ready = await client.get(f"http://{address}/ready")
                except httpx.TransportError:
                    pass
                else:
                    if ready.status_code == 200:
                        return f"http://{address}"
            await asyncio.sleep(0.05)
    pytest.fail(f"envoy not ready within {START_DEADLINE_S}s:\n{read(log)}")


@pytest.fixture(scope="module")
async def edge(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> AsyncIterator[Edge]:
    tmp_path = tmp_path_factory.mktemp("envoy")
    config = render_config(tmp_path, upstream.port)
    address_file = tmp_path / "admin-address"
    log = tmp_path / "envoy.log"
    with log.open("wb") as out:
        envoy = await asyncio.create_subprocess_exec(
            str(ENVOY),
            "-c",
            str(config),
            "--base-id",
            str(random.randrange(1_000, 1_000_000)),
            "--admin-address-path",
            str(address_file),
            "--log-level",
            "warn",
            cwd=tmp_path,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        admin_url = await wait_for_admin(envoy, address_file, log)
        async with httpx.AsyncClient(timeout=5.0) as client:
            listeners = (await client.get(f"{admin_url}/listeners?format=json")).json()
        (public,) = [item for item in listeners["listener_statuses"] if item["name"] == "public"]
        port = public["local_address"]["socket_address"]["port_value"]
        yield Edge(f"http://127.0.0.1:{port}", admin_url, log)
    finally:
        if envoy.returncode is None:
            envoy.terminate()
        try:
            await asyncio.wait_for(envoy.wait(), timeout=10)
        except TimeoutError:
            envoy.kill()
            await envoy.wait()


@pytest.fixture(autouse=True)
def _forget_calls(upstream: Upstream) -> None:
    upstream.servicer.calls.clear()


@pytest.fixture
async def client(edge: Edge) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=edge.url, timeout=10.0) as http:
        yield http


PUSH = {"fields": {"name": "Ola Nordmann"}, "related": {"contact": {"email": "ola@acme.no"}}}


async def test_push_answers_200_with_snake_case_json(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    response = await client.post("/api/v1/ingest/ok", json=PUSH)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert not {"grpc-status", "grpc-message", "x-http-code"} & set(response.headers)
    assert response.content == (
        b'{"record":{"id":"r1","action":"created"},'
        b'"related":{"contact":{"id":"c1","action":"updated","matched_on":["email"]}}}'
    )
    ((token, _),) = upstream.servicer.calls
    assert token == "ok"


async def test_request_id_is_made_at_the_edge_and_reaches_the_service_as_metadata(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    generated = await client.post("/api/v1/ingest/ok", json=PUSH)
    given = await client.post("/api/v1/ingest/ok", json=PUSH, headers={"x-request-id": "req-42"})
    forged = await client.post(
        "/api/v1/ingest/ok", json=PUSH, headers={"x-client-request-id": "forged"}
    )

    (_, first), (_, second), (_, third) = upstream.servicer.calls
    assert first["x-request-id"]
    assert generated.headers["x-request-id"] == first["x-request-id"]
    assert "x-client-request-id" not in first
    assert "x-client-request-id" not in generated.headers
    # A client's own id is kept as its correlation id, never used as ours.
    assert second["x-request-id"] not in ("req-42", first["x-request-id"])
    assert given.headers["x-request-id"] == second["x-request-id"]
    assert second["x-client-request-id"] == "req-42"
    assert given.headers["x-client-request-id"] == "req-42"
    assert "x-client-request-id" not in third
    assert "x-client-request-id" not in forged.headers


async def test_idempotency_key_reaches_the_service_and_replay_headers_come_back(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    response = await client.post(
        "/api/v1/ingest/replayed", json=PUSH, headers={"idempotency-key": "order-1"}
    )

    assert response.status_code == 200
    assert response.headers["idempotency-replayed"] == "true"
    assert response.headers["ratelimit-remaining"] == "41"
    ((_, metadata),) = upstream.servicer.calls
    assert metadata["idempotency-key"] == "order-1"


async def test_x_http_code_metadata_becomes_the_status(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/ingest/accepted", json=PUSH)

    assert response.status_code == 202
    assert response.json()["record"] == {"id": "r1", "action": "created"}
    assert "x-http-code" not in response.headers


async def test_an_error_after_x_http_code_keeps_its_error_status(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/ingest/accepted-then-fails", json=PUSH)

    assert response.status_code == 400
    assert response.json() == {"code": 9, "message": "unique fields conflict"}
    assert "x-http-code" not in response.headers


async def test_grpc_error_becomes_http_status_with_status_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/ingest/missing", json=PUSH)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "code": 5,
        "message": "no such endpoint",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ENDPOINT_NOT_FOUND",
                "domain": "inlet.dev",
            }
        ],
    }


def body_of(size: int) -> bytes:
    """A JSON push of exactly `size` bytes."""
    empty = json.dumps({"fields": {"notes": ""}}).encode()
    body = json.dumps({"fields": {"notes": "x" * (size - len(empty))}}).encode()
    assert len(body) == size
    return body


async def test_body_over_100_kib_is_413_and_never_reaches_the_service(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    response = await client.post(
        "/api/v1/ingest/ok", content=body_of(150_000), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "code": 8,
        "message": "request body exceeds 102400 bytes",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "PAYLOAD_TOO_LARGE",
                "domain": "inlet.dev",
            }
        ],
    }
    assert response.headers["x-request-id"]
    assert upstream.servicer.calls == []


@pytest.mark.parametrize(("size", "status"), [(102_400, 200), (102_401, 413)])
async def test_the_cap_counts_the_json_bytes_sent(
    client: httpx.AsyncClient, upstream: Upstream, size: int, status: int
) -> None:
    # The transcoded gRPC message of a 102400-byte body is a few bytes larger: the cap
    # must count what the client sent, not what goes upstream.
    response = await client.post(
        "/api/v1/ingest/ok", content=body_of(size), headers={"content-type": "application/json"}
    )

    assert response.status_code == status
    assert len(upstream.servicer.calls) == (1 if status == 200 else 0)


@pytest.mark.parametrize(("size", "status"), [(102_400, 200), (150_000, 413)])
async def test_the_cap_holds_for_chunked_bodies_too(
    client: httpx.AsyncClient, upstream: Upstream, size: int, status: int
) -> None:
    body = body_of(size)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    response = await client.post(
        "/api/v1/ingest/ok", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == status
    assert len(upstream.servicer.calls) == (1 if status == 200 else 0)


async def test_native_grpc_passes_through_untouched(edge: Edge) -> None:
    async with grpc.aio.insecure_channel(edge.url.removeprefix("http://")) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        call = stub.PushEndpoint(ingest_pb2.PushEndpointRequest(token="accepted"))
        response = await call
        initial = dict(await call.initial_metadata() or ())

    assert response.record.id == "r1"
    assert initial["x-http-code"] == "202"
    assert await call.code() == grpc.StatusCode.OK


async def test_deployments_point_the_matcher_cluster_at_inlet_matcher_addr() -> None:
    # deploy/envoy/entrypoint.sh (Docker image, compose, k8s) rewrites the matcher address
    # of the checked-in config; validate mode loads the result without connecting.
    env = {"PATH": f"{ENVOY.parent}:/usr/bin:/bin"}
    command = ("sh", str(ROOT / "deploy" / "envoy" / "entrypoint.sh"), "--mode", "validate")
    good = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env={**env, "INLET_MATCHER_ADDR": "matcher.inlet.svc.cluster.local:50051"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await good.communicate()
    assert good.returncode == 0, output.decode()

    bad = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env={**env, "INLET_MATCHER_ADDR": "matcher"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await bad.communicate()
    assert bad.returncode == 2
    assert b"INLET_MATCHER_ADDR must be host:port" in output


async def test_unknown_query_parameter_is_rejected(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    response = await client.post("/api/v1/ingest/ok?debug=1", json=PUSH)

    assert response.status_code == 400
    assert upstream.servicer.calls == []


async def test_the_access_log_never_holds_a_credential(
    client: httpx.AsyncClient, edge: Edge
) -> None:
    token = "iep_SecretTokenThatMustNotBeLogged0123456789abc"
    bearer = "ik_live_abcdef_SecretKeyThatMustNotBeLogged"
    client_token = "ct_SecretClientTokenThatMustNotBeLogged"
    response = await client.post(
        f"/api/v1/ingest/{token}?note=QuerySecretMustNotBeLogged",
        json=PUSH,
        headers={"authorization": f"Bearer {bearer}", "x-client-token": client_token},
    )
    assert response.status_code in (200, 400)
    too_large = await client.post(f"/api/v1/ingest/{token}", content=b"x" * 200_000)
    assert too_large.status_code == 413

    def logged() -> str | None:
        text = read(edge.log)
        return text if text.count("/api/v1/ingest/{token}") >= 2 else None

    deadline = time.monotonic() + 10
    text = logged()
    while text is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        text = logged()
    assert text is not None, read(edge.log)
    for secret in (token, bearer, client_token, "QuerySecretMustNotBeLogged", "SecretToken"):
        assert secret not in text


async def test_envoy_answers_are_nosniff_no_store_without_a_server_banner(
    client: httpx.AsyncClient,
) -> None:
    for answer in (
        await client.get("/healthz"),
        await client.post("/api/v1/ingest/tok_ok", json={"fields": {"name": "A"}}),
    ):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
        assert "server" not in answer.headers


async def test_envoy_refuses_a_header_block_past_64_kib_with_431(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/healthz", headers={"X-Padding": "p" * 70_000})
    assert answer.status_code == 431
