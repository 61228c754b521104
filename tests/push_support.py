"""Helpers shared by the push-transfer tests: the seed's body, a session with its API key
and webhook secret, and HTTP shorthands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from inlet.admin.v1 import push_pb2, push_pb2_grpc
from inlet_devstack.demo import DemoSeed
from tests.polling import until

SESSION_TYPES = (
    push_pb2.SessionType(endgrate_type="crm-contact"),
    push_pb2.SessionType(endgrate_type="crm-company"),
)


def seed_body(session_id: str) -> dict[str, Any]:
    """The seed's curl body verbatim, its comments removed, with our session id."""
    return {
        "endgrate_type": "crm-contact",
        "session_id": session_id,
        "transfer_data": [
            {
                "data": {"first_name": "Bob", "last_name": "Smith"},
                "associations": {
                    "crm-company": [
                        {"data": {"name": "Acme Corporation"}, "internal_id": "Company1"},
                        {"data": {"name": "Bacme Corporation"}, "internal_id": "Company2"},
                    ]
                },
                "internal_id": "Contact1",
            },
            {
                "data": {"first_name": "David", "last_name": "Jones"},
                "associations": {
                    "crm-company": [{"data": {"name": "C Inc."}, "internal_id": "Company3"}]
                },
                "internal_id": "Contact2",
            },
        ],
    }


@dataclass(frozen=True)
class PushSession:
    workspace: str  # resource name
    session_id: str
    api_key: str
    webhook_secret: str
    webhook_endpoint: str  # the notifier endpoint that signs and lists its deliveries

    def headers(self, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "Content-Type": "application/json",
            **extra,
        }


async def push_session(
    push_admin: push_pb2_grpc.PushAdminServiceAsyncStub,
    seeded: DemoSeed,
    *,
    types: tuple[push_pb2.SessionType, ...] = SESSION_TYPES,
    **fields: Any,
) -> PushSession:
    key = await push_admin.CreateApiKey(
        push_pb2.CreateApiKeyRequest(parent=seeded.workspace, api_key=push_pb2.ApiKey()),
        metadata=seeded.auth,
    )
    made = await push_admin.CreateSession(
        push_pb2.CreateSessionRequest(
            parent=seeded.workspace, session=push_pb2.Session(types=list(types), **fields)
        ),
        metadata=seeded.auth,
    )
    return PushSession(
        workspace=seeded.workspace,
        session_id=made.session.session_id,
        api_key=key.secret,
        webhook_secret=made.webhook_secret,
        webhook_endpoint=made.session.webhook_endpoint,
    )


async def completed_data(
    http: httpx.AsyncClient, session: PushSession, transfer_id: str
) -> dict[str, Any]:
    """GET /api/push/data once the transfer has completed."""

    async def check() -> dict[str, Any] | None:
        got = await http.get(
            "/api/push/data", params={"transfer_id": transfer_id}, headers=session.headers()
        )
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body if body["completed"] else None

    found: dict[str, Any] = await until(
        check, within=20.0, what=f"transfer {transfer_id} completed"
    )
    return found
