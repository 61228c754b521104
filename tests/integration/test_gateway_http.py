"""The gateway over real HTTP, in front of a real gRPC IngestService on a free port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from inlet_common import grpcserver
from inlet_gateway import server
from inlet_gateway.config import GatewayConfig
from tests.integration.gateway_fixtures import (
    ASYNC,
    CONFLICT,
    INVALID,
    OK,
    STALL,
    RecordingIngestService,
    start_ingest_service,
)
from tests.polling import until
from tests.ports import dead_port

PUSH = "/api/v1/ingest/{}"
GENERATED_ID = re.compile(r"req_[a-z2-7]{26}")
PROBLEM = "application/problem+json"
CAP = 102400


def config_for(matcher_addr: str, *, timeout: float = 5.0) -> GatewayConfig:
    return GatewayConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        matcher_addr=matcher_addr,
        timeout_seconds=timeout,
    )


@pytest.fixture(scope="module")
async def ingest() -> AsyncIterator[tuple[RecordingIngestService, grpcserver.Service]]:
    servicer = RecordingIngestService()
    service = await start_ingest_service(servicer)
    yield servicer, service
    servicer.release.set()
    await service.stop(0)


@pytest.fixture(scope="module")
async def gateway(
    ingest: tuple[RecordingIngestService, grpcserver.Service],
) -> AsyncIterator[server.RunningGateway]:
    running = await server.start(config_for(f"127.0.0.1:{ingest[1].port}"))
    yield running
    await running.stop()


@pytest.fixture
def servicer(ingest: tuple[RecordingIngestService, grpcserver.Service]) -> RecordingIngestService:
    ingest[0].calls.clear()
    return ingest[0]


@pytest.fixture
async def client(gateway: server.RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        yield http


def problem(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert isinstance(body, dict)
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["status"] == response.status_code
    return body


# --- success ---------------------------------------------------------------------------------


async def test_push_answers_200_with_exactly_the_result(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    sent = b'{"fields": {"name": "Ola Nordmann", "email": "ola@acme.no", "n": 9007199254740993},'
    sent += b' "related": {"contact": {"email": "ola@acme.no"}}}'
    response = await client.post(
        PUSH.format(OK), content=sent, headers={"content-type": "application/json"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "record": {"id": "rec_1", "action": "created"},
        "related": {"contact": {"id": "rec_2", "action": "updated", "matched_on": ["email"]}},
    }
    request_id = response.headers["x-request-id"]
    assert GENERATED_ID.fullmatch(request_id)
    [call] = servicer.calls
    assert call.request.token == OK
    # The body reaches the service byte for byte: the edge never parses a number.
    assert call.request.body.data == sent
    assert call.request.body.content_type == "application/json"
    assert call.metadata["x-request-id"] == request_id
    assert "x-inlet-edge-error" not in call.metadata


async def test_x_http_code_from_the_service_is_honoured(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.post(PUSH.format(ASYNC), json={"fields": {}})

    assert response.status_code == 202
    assert response.json()["record"] == {"id": "rec_1", "action": "created"}
    assert response.headers["retry-after"] == "7"
    assert "x-http-code" not in response.headers
    assert "x-secret-internal" not in response.headers


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("abc-123._:XYZ", True), ("a" * 128, True), ("a" * 129, False), ("has space", False)],
)
async def test_a_client_request_id_is_kept_beside_ours_never_used_as_ours(
    client: httpx.AsyncClient, servicer: RecordingIngestService, sent: str, kept: bool
) -> None:
    response = await client.post(
        PUSH.format(OK), json={"fields": {}}, headers={"X-Request-Id": sent}
    )

    got = response.headers["x-request-id"]
    assert GENERATED_ID.fullmatch(got)
    metadata = servicer.calls[0].metadata
    assert metadata["x-request-id"] == got
    if kept:
        assert response.headers["x-client-request-id"] == sent
        assert metadata["x-client-request-id"] == sent
    else:
        assert "x-client-request-id" not in response.headers
        assert "x-client-request-id" not in metadata


async def test_a_client_cannot_set_the_metadata_of_the_ids_itself(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.post(
        PUSH.format(OK), json={"fields": {}}, headers={"X-Client-Request-Id": "forged"}
    )

    metadata = servicer.calls[0].metadata
    assert metadata["x-request-id"] == response.headers["x-request-id"]
    assert "x-client-request-id" not in metadata
    assert "x-client-request-id" not in response.headers


async def test_only_allowlisted_headers_reach_the_service(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    await client.post(
        PUSH.format(OK),
        json={"fields": {}},
        headers={
            "Authorization": "Bearer ik_live_secret",
            "Idempotency-Key": "idem-1",
            "X-Item-Key": "item-1",
            "X-Stream": "orders",
            "X-Client-Token": "ct-1",
            "User-Agent": "acme-sync/2.1",
            "X-Inlet-Edge-Error": "PAYLOAD_TOO_LARGE",
            "X-Inlet-Edge-Message": "spoofed",
            "Cookie": "session=1",
        },
    )

    metadata = servicer.calls[0].metadata
    assert metadata["authorization"] == "Bearer ik_live_secret"
    assert metadata["idempotency-key"] == "idem-1"
    assert metadata["x-item-key"] == "item-1"
    assert metadata["x-stream"] == "orders"
    assert metadata["x-client-token"] == "ct-1"
    assert metadata["x-forwarded-user-agent"] == "acme-sync/2.1"
    assert metadata["x-forwarded-for"] == "127.0.0.1"
    assert "x-inlet-edge-error" not in metadata
    assert "x-inlet-edge-message" not in metadata
    assert "cookie" not in metadata


async def test_healthz_is_answered_by_the_edge(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]
    assert servicer.calls == []


# --- errors from the service -------------------------------------------------------------


async def test_validation_error_is_problem_json_with_field_errors(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.post(
        PUSH.format(INVALID), json={"fields": {"email": "nope"}}, headers={"X-Request-Id": "r-1"}
    )

    assert response.status_code == 400
    request_id = response.headers["x-request-id"]
    assert GENERATED_ID.fullmatch(request_id)
    assert response.headers["x-client-request-id"] == "r-1"
    assert problem(response) == {
        "type": "https://inlet.dev/problems/invalid-argument",
        "title": "Invalid Argument",
        "status": 400,
        "detail": "1 field is invalid",
        "code": "INVALID_ARGUMENT",
        "request_id": request_id,
        "errors": [
            {"field": "fields.email", "code": "INVALID_EMAIL", "message": "not an e-mail address"}
        ],
    }


async def test_unique_conflict_lists_the_conflicting_records(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.post(PUSH.format(CONFLICT), json={"fields": {}})

    assert response.status_code == 400
    body = problem(response)
    assert body["code"] == "UNIQUE_CONFLICT"
    assert "errors" not in body
    assert body["conflicts"] == [
        {"entity": "record", "field": "email", "value": "ola@acme.no", "record_ids": ["rec_1"]},
        {"entity": "record", "field": "phone", "value": "+4799887766", "record_ids": ["rec_2"]},
    ]


async def test_unknown_token_is_404_from_the_service(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.post(PUSH.format("tok_unknown"), json={"fields": {}})

    assert response.status_code == 404
    assert problem(response)["code"] == "ENDPOINT_NOT_FOUND"


# --- edge errors ---------------------------------------------------------------------------


async def test_unknown_route_is_404_route_not_found(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.post("/api/v1/nowhere", json={}, headers={"X-Request-Id": "r-404"})

    assert response.status_code == 404
    assert response.headers["x-client-request-id"] == "r-404"
    body = problem(response)
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["code"] == "ROUTE_NOT_FOUND"
    assert body["type"] == "https://inlet.dev/problems/route-not-found"
    assert servicer.calls == []


async def test_wrong_method_is_405_with_allow(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.get(PUSH.format(OK))

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert problem(response)["code"] == "METHOD_NOT_ALLOWED"
    assert servicer.calls == []


def assert_edge_call(servicer: RecordingIngestService, token: str, reason: str) -> None:
    """The service saw the rejection: the URL's token, no body, and the edge's reason."""
    [call] = servicer.calls
    assert call.request.token == token
    assert not call.request.HasField("body")
    assert call.metadata["x-inlet-edge-error"] == reason
    assert call.metadata["x-inlet-edge-message"]


async def test_body_over_the_cap_by_content_length_is_413(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.post(
        PUSH.format(OK), content=b"x" * (CAP + 1), headers={"X-Request-Id": "r-413"}
    )

    assert response.status_code == 413
    assert response.headers["x-client-request-id"] == "r-413"
    body = problem(response)
    assert body["request_id"] == response.headers["x-request-id"]
    # The service that logs the refusal was told the same id.
    assert servicer.calls[0].metadata["x-request-id"] == body["request_id"]
    assert body["code"] == "PAYLOAD_TOO_LARGE"
    assert "100 KB" in str(body["detail"])
    assert_edge_call(servicer, OK, "PAYLOAD_TOO_LARGE")


async def test_streamed_chunked_body_over_the_cap_is_413(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"fields": {"note": "'
        for _ in range(12):
            yield b"y" * 10_000
        yield b'"}}'

    response = await client.post(PUSH.format(OK), content=chunks())

    assert response.status_code == 413
    assert problem(response)["code"] == "PAYLOAD_TOO_LARGE"
    assert_edge_call(servicer, OK, "PAYLOAD_TOO_LARGE")
    # The connection was drained, not broken: the same client goes on.
    assert (await client.get("/healthz")).status_code == 200


async def test_announced_length_is_rejected_before_the_body_is_sent(
    gateway: server.RunningGateway, servicer: RecordingIngestService
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(
            f"POST {PUSH.format(OK)} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {50 * CAP}\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()

    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in head.lower()
    assert_edge_call(servicer, OK, "PAYLOAD_TOO_LARGE")


async def test_body_exactly_at_the_cap_is_accepted(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    document = orjson.dumps({"fields": {"name": "Ola"}})
    padded = document[:-1] + b" " * (CAP - len(document)) + b"}"
    assert len(padded) == CAP

    response = await client.post(PUSH.format(OK), content=padded)

    assert response.status_code == 200


async def test_malformed_json_is_passed_on_for_the_service_to_judge(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.post(PUSH.format(OK), content=b'{"fields": {')

    # The recording service accepts anything; the matcher answers MALFORMED_JSON (e2e).
    assert response.status_code == 200
    [call] = servicer.calls
    assert call.request.body.data == b'{"fields": {'
    assert "x-inlet-edge-error" not in call.metadata


async def test_edge_rejection_with_an_unknown_token_is_the_service_404(
    client: httpx.AsyncClient, servicer: RecordingIngestService
) -> None:
    response = await client.post(PUSH.format("tok_unknown"), content=b"x" * (CAP + 1))

    assert response.status_code == 404
    assert problem(response)["code"] == "ENDPOINT_NOT_FOUND"
    assert_edge_call(servicer, "tok_unknown", "PAYLOAD_TOO_LARGE")


# --- upstream trouble --------------------------------------------------------------------


@pytest.fixture(scope="module")
async def orphan_gateway() -> AsyncIterator[server.RunningGateway]:
    """A gateway whose matcher address has nothing listening."""
    with dead_port() as port:
        running = await server.start(config_for(f"127.0.0.1:{port}"))
        yield running
        await running.stop()


async def test_upstream_down_is_503(orphan_gateway: server.RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=orphan_gateway.url) as http:
        response = await http.post(PUSH.format(OK), json={"fields": {}})

    assert response.status_code == 503
    body = problem(response)
    assert body["code"] == "UPSTREAM_UNAVAILABLE"
    assert "127.0.0.1" not in str(body["detail"])  # no internal addresses


async def test_edge_rejection_with_upstream_down_renders_the_edge_error(
    orphan_gateway: server.RunningGateway,
) -> None:
    async with httpx.AsyncClient(base_url=orphan_gateway.url) as http:
        too_large = await http.post(PUSH.format(OK), content=b"x" * (CAP + 1))

    assert too_large.status_code == 413
    assert problem(too_large)["code"] == "PAYLOAD_TOO_LARGE"


async def test_upstream_deadline_is_504(
    ingest: tuple[RecordingIngestService, grpcserver.Service],
) -> None:
    running = await server.start(config_for(f"127.0.0.1:{ingest[1].port}", timeout=0.3))
    try:
        async with httpx.AsyncClient(base_url=running.url) as http:
            response = await http.post(PUSH.format(STALL), json={"fields": {}})
    finally:
        await running.stop()

    assert response.status_code == 504
    assert problem(response)["code"] == "UPSTREAM_TIMEOUT"


# --- as a process ----------------------------------------------------------------------------


def read_if_written(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


async def wait_for_file(path: Path, process: asyncio.subprocess.Process) -> str:
    def written() -> str | None:
        assert process.returncode is None, "gateway exited early"
        return read_if_written(path) or None

    text: str = await until(written, within=20, what="the gateway's port file")
    return text


async def test_runs_as_a_process_and_stops_on_sigterm(
    tmp_path: Path, ingest: tuple[RecordingIngestService, grpcserver.Service]
) -> None:
    port_file = tmp_path / "gateway.port"
    env = {
        **os.environ,
        "INLET_GATEWAY_ADDR": "127.0.0.1:0",
        "INLET_MATCHER_ADDR": f"127.0.0.1:{ingest[1].port}",
        "INLET_PORT_FILE": str(port_file),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inlet_gateway",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        port = int(await wait_for_file(port_file, process))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            health = await http.get("/healthz")
            pushed = await http.post(PUSH.format(OK), json={"fields": {}})
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)

    assert health.status_code == 200
    assert pushed.status_code == 200
    assert process.returncode == 0, stderr.decode()
    assert b"gateway listening" in stderr
    assert OK.encode() not in stderr  # the token is a credential: never logged


async def test_bad_configuration_exits_2_naming_the_key() -> None:
    env = {**os.environ, "INLET_GATEWAY_ADDR": "nonsense"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inlet_gateway",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)

    assert process.returncode == 2
    assert b"INLET_GATEWAY_ADDR" in stderr
    assert len(stderr.decode().strip().splitlines()) == 1
