"""Push transfer's call over HTTP: a transfer stored and answered with its transfer_id, and
every refusal of the call itself (400 naming the field, 401, 413, 429, Idempotency-Key),
each in the session's activity log when it names the session."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import push_pb2, push_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests.push_support import PushSession, push_session, seed_body
from tests.windows import steady_window

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
async def push_admin(stack: Stack) -> AsyncIterator[Any]:
    async with channel(stack.address("store")) as ch:
        yield push_pb2_grpc.PushAdminServiceStub(ch)


@pytest.fixture
async def session(push_admin: Any, seeded: DemoSeed) -> PushSession:
    return await push_session(push_admin, seeded)


def details(answer: httpx.Response) -> list[tuple[str, str]]:
    return [(d["field"], d["code"]) for d in answer.json().get("details", [])]


async def log_entries(push_admin: Any, seeded: DemoSeed, session: PushSession) -> list[Any]:
    got = await push_admin.ListPushLogEntries(
        push_pb2.ListPushLogEntriesRequest(
            parent=f"{seeded.workspace}/sessions/{session.session_id}"
        ),
        metadata=seeded.auth,
    )
    return list(got.log_entries)


async def test_a_transfer_is_stored_and_answered_with_its_id(
    http: httpx.AsyncClient, session: PushSession, push_admin: Any, seeded: DemoSeed
) -> None:
    answer = await http.post(
        "/api/push/transfer", json=seed_body(session.session_id), headers=session.headers()
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True
    assert len(body["transfer_id"]) == 24
    assert int(body["transfer_id"], 16) >= 0
    assert answer.headers["ratelimit-limit"] == "6000"
    entries = await log_entries(push_admin, seeded, session)
    assert [(e.transfer_id, e.status_code, e.items_received) for e in entries] == [
        (body["transfer_id"], 200, 2)
    ]
    assert entries[0].request_id == answer.headers["x-request-id"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"session_id": "0" * 24}, [("session_id", "UNKNOWN_SESSION")]),
        ({"session_id": None}, [("session_id", "REQUIRED_FIELD_MISSING")]),
        ({"endgrate_type": "crm-deal"}, [("endgrate_type", "UNKNOWN_ENDGRATE_TYPE")]),
        ({"transfer_data": []}, [("transfer_data", "EMPTY")]),
        ({"transfer_data": {"data": {}}}, [("transfer_data", "INVALID_TYPE")]),
        (
            {"transfer_data": [{"internal_id": "x"}]},
            [("transfer_data[0].data", "REQUIRED_FIELD_MISSING")],
        ),
        ({"transfer_data": [{"data": []}]}, [("transfer_data[0].data", "INVALID_TYPE")]),
        (
            {"transfer_data": [{"data": {}, "associations": {"crm-deal": [{"data": {}}]}}]},
            [("transfer_data[0].associations.crm-deal", "UNKNOWN_ENDGRATE_TYPE")],
        ),
        (
            {"transfer_data": [{"data": {}, "associations": {"crm-company": [{}]}}]},
            [("transfer_data[0].associations.crm-company[0].data", "REQUIRED_FIELD_MISSING")],
        ),
        ({"data_webhook": {"endpoint": "ftp://x"}}, [("data_webhook.endpoint", "INVALID_URL")]),
        ({"error_webhook": "https://x.test"}, [("error_webhook", "INVALID_TYPE")]),
        (
            {"completed_webhook": {"endpoint": "https://x.test", "metadata": [1]}},
            [("completed_webhook.metadata", "INVALID_TYPE")],
        ),
        ({"synchronous": "yes"}, [("synchronous", "INVALID_TYPE")]),
        ({"disable_upsert": 1}, [("disable_upsert", "INVALID_TYPE")]),
        ({"webhook_concurency": True}, [("webhook_concurency", "UNKNOWN_FIELD")]),
    ],
)
async def test_a_bad_call_is_400_naming_the_field_and_stores_nothing(
    http: httpx.AsyncClient,
    session: PushSession,
    push_admin: Any,
    seeded: DemoSeed,
    change: dict[str, Any],
    expected: list[tuple[str, str]],
) -> None:
    body = {**seed_body(session.session_id), **change}
    body = {k: v for k, v in body.items() if v is not None}
    answer = await http.post("/api/push/transfer", json=body, headers=session.headers())
    assert answer.status_code == 400, answer.text
    found = answer.json()
    assert found["success"] is False
    assert found["code"] == "INVALID_TRANSFER"
    assert details(answer) == expected
    assert list(found["errors"]) == [field for field, _ in expected]
    assert found["request_id"] == answer.headers["x-request-id"]
    entries = await log_entries(push_admin, seeded, session)
    if expected[0][1] == "UNKNOWN_SESSION" or expected[0][0] == "session_id":
        assert entries == []  # nothing names this session
    else:
        assert [(e.status, e.status_code, e.transfer_id) for e in entries] == [
            ("rejected", 400, "")
        ]


async def test_every_bad_field_is_named_at_once(
    http: httpx.AsyncClient, session: PushSession
) -> None:
    body = {
        "endgrate_type": "crm-nothing",
        "session_id": session.session_id,
        "transfer_data": [{"data": {}}, {"id": 7.5, "data": "x"}],
    }
    answer = await http.post("/api/push/transfer", json=body, headers=session.headers())
    assert answer.status_code == 400
    assert details(answer) == [
        ("transfer_data[1].data", "INVALID_TYPE"),
        ("transfer_data[1].id", "INVALID_TYPE"),
        ("endgrate_type", "UNKNOWN_ENDGRATE_TYPE"),
    ]


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"", "EMPTY_BODY"), (b"{not json", "MALFORMED_JSON"), (b"[1, 2]", "INVALID_TYPE")],
)
async def test_a_body_that_is_not_a_json_object_is_400(
    http: httpx.AsyncClient, session: PushSession, content: bytes, code: str
) -> None:
    answer = await http.post("/api/push/transfer", content=content, headers=session.headers())
    assert answer.status_code == 400, answer.text
    assert details(answer) == [("body", code)]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer x", "Basic abc", "Bearer ak_0000000000000000_" + "0" * 64, "Bearer ik_live_x_y"],
)
async def test_a_missing_or_wrong_api_key_is_401(
    http: httpx.AsyncClient, session: PushSession, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    answer = await http.post(
        "/api/push/transfer", json=seed_body(session.session_id), headers=headers
    )
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "UNAUTHORIZED"
    got = await http.get("/api/push/data", params={"transfer_id": "0" * 24}, headers=headers)
    assert got.status_code == 401


async def test_a_revoked_key_is_401_and_a_rotated_one_works_for_its_grace(
    http: httpx.AsyncClient, session: PushSession, push_admin: Any, seeded: DemoSeed
) -> None:
    key_id = session.api_key.split("_")[1]
    name = f"{seeded.workspace}/apiKeys/{key_id}"
    rotated = await push_admin.RotateApiKey(
        push_pb2.RotateApiKeyRequest(name=name, grace_seconds=600), metadata=seeded.auth
    )
    body = seed_body(session.session_id)
    for key in (session.api_key, rotated.secret):
        answer = await http.post(
            "/api/push/transfer", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 200, answer.text
    await push_admin.RevokeApiKey(push_pb2.RevokeApiKeyRequest(name=name), metadata=seeded.auth)
    answer = await http.post("/api/push/transfer", json=body, headers=session.headers())
    assert answer.status_code == 401
    assert "revoked or expired" in answer.json()["message"]


async def test_a_body_over_2_mb_is_413(http: httpx.AsyncClient, session: PushSession) -> None:
    big = seed_body(session.session_id)
    big["transfer_data"][0]["data"]["description"] = "x" * (2 * 1024 * 1024)
    answer = await http.post("/api/push/transfer", json=big, headers=session.headers())
    assert answer.status_code == 413, answer.text
    found = answer.json()
    assert found["code"] == "PAYLOAD_TOO_LARGE"
    assert "2 MB" in found["message"]


async def test_over_the_rate_limit_is_429_with_retry_after(
    http: httpx.AsyncClient, push_admin: Any, seeded: DemoSeed
) -> None:
    window = steady_window()
    made = await push_admin.CreateApiKey(
        push_pb2.CreateApiKeyRequest(
            parent=seeded.workspace,
            api_key=push_pb2.ApiKey(rate_limit=2, rate_window_seconds=window),
        ),
        metadata=seeded.auth,
    )
    session = await push_session(push_admin, seeded)
    headers = {"Authorization": f"Bearer {made.secret}"}
    for remaining in ("1", "0"):
        answer = await http.post(
            "/api/push/transfer", json=seed_body(session.session_id), headers=headers
        )
        assert answer.status_code == 200
        assert answer.headers["ratelimit-remaining"] == remaining
    answer = await http.post(
        "/api/push/transfer", json=seed_body(session.session_id), headers=headers
    )
    assert answer.status_code == 429, answer.text
    assert answer.json()["code"] == "RATE_LIMITED"
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.headers["ratelimit-policy"] == f"2;w={window}"


async def test_idempotency_key_replays_the_same_body_and_refuses_another(
    http: httpx.AsyncClient, session: PushSession, push_admin: Any, seeded: DemoSeed
) -> None:
    key = f"transfer-{secrets.token_hex(4)}"
    body = seed_body(session.session_id)
    first = await http.post(
        "/api/push/transfer", json=body, headers=session.headers(**{"Idempotency-Key": key})
    )
    assert first.status_code == 200
    # Key order and spacing do not make another body.
    reordered = dict(reversed(list(body.items())))
    again = await http.post(
        "/api/push/transfer", json=reordered, headers=session.headers(**{"Idempotency-Key": key})
    )
    assert again.status_code == 200
    assert again.json()["transfer_id"] == first.json()["transfer_id"]
    assert again.headers["idempotency-replayed"] == "true"
    other = {**body, "disable_upsert": True}
    refused = await http.post(
        "/api/push/transfer", json=other, headers=session.headers(**{"Idempotency-Key": key})
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    too_long = await http.post(
        "/api/push/transfer", json=body, headers=session.headers(**{"Idempotency-Key": "k" * 256})
    )
    assert too_long.status_code == 400
    assert details(too_long) == [("Idempotency-Key", "TOO_LONG")]
    entries = await log_entries(push_admin, seeded, session)
    statuses = [e.status for e in reversed(entries)]
    assert statuses[0] in ("queued", "processing", "completed")
    assert statuses[1:] == ["replayed", "rejected", "rejected"]
    assert entries[2].replay_of == first.headers["x-request-id"]


async def test_push_data_needs_a_transfer_of_the_keys_workspace(
    http: httpx.AsyncClient,
    session: PushSession,
    push_admin: Any,
    admin: Any,
    stack: Stack,
) -> None:
    missing = await http.get("/api/push/data", headers=session.headers())
    assert missing.status_code == 400
    assert details(missing) == [("transfer_id", "REQUIRED_FIELD_MISSING")]
    unknown = await http.get(
        "/api/push/data", params={"transfer_id": "f" * 24}, headers=session.headers()
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "TRANSFER_NOT_FOUND"
    pushed = await http.post(
        "/api/push/transfer", json=seed_body(session.session_id), headers=session.headers()
    )
    transfer_id = pushed.json()["transfer_id"]
    elsewhere = await demo.seed(
        admin, bootstrap_token=stack.bootstrap_token, workspace_slug=f"e{secrets.token_hex(6)}"
    )
    stranger = await push_session(push_admin, elsewhere)
    hidden = await http.get(
        "/api/push/data", params={"transfer_id": transfer_id}, headers=stranger.headers()
    )
    assert hidden.status_code == 404
    got = await http.get(
        "/api/push/data", params={"transfer_id": transfer_id}, headers=session.headers()
    )
    assert got.status_code == 200
    assert got.json()["transfer_id"] == transfer_id
    assert got.json()["items_received"] == 2
