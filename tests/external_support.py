"""Helpers shared by the integration-ingest tests: project tokens, integrations and client
tokens made over the admin API (gRPC), and the vendors' documented example payloads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import psycopg
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import admin_pb2, integrations_pb2, integrations_pb2_grpc
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson
from inlet_devstack.demo import DemoSeed
from tests.stream_support import until

F = entity_pb2.Field
T = entity_pb2

# An order with its customer: the MAPPING example (a reference field and its related type).
ORDER = entity_pb2.EntityType(
    slug="order",
    display_name="Order",
    fields=[
        F(slug="number", display_name="Number", type=T.FIELD_TYPE_TEXT, unique=True),
        F(slug="total", display_name="Total", type=T.FIELD_TYPE_NUMBER),
        F(slug="placed_at", display_name="Placed at", type=T.FIELD_TYPE_DATETIME),
        F(slug="channel", display_name="Channel", type=T.FIELD_TYPE_TEXT),
        F(
            slug="customer",
            display_name="Customer",
            type=T.FIELD_TYPE_REFERENCE,
            reference_entity_type="person",
        ),
    ],
)
# A person with first and last names, for split names and the vendors' mappings.
PERSON = entity_pb2.EntityType(
    slug="person",
    display_name="Person",
    fields=[
        F(slug="name", display_name="Name", type=T.FIELD_TYPE_TEXT),
        F(slug="first_name", display_name="First name", type=T.FIELD_TYPE_TEXT),
        F(slug="last_name", display_name="Last name", type=T.FIELD_TYPE_TEXT),
        F(slug="email", display_name="E-mail", type=T.FIELD_TYPE_EMAIL, unique=True),
        F(slug="phone", display_name="Phone", type=T.FIELD_TYPE_PHONE, unique=True),
        F(slug="timezone", display_name="Time zone", type=T.FIELD_TYPE_TEXT),
    ],
)

# Typeform's documented `form_response` example, as its page shows it:
# https://www.typeform.com/developers/webhooks/example-payload/
TYPEFORM_EXAMPLE: dict[str, Any] = {
    "event_id": "LtWXD3crgy",
    "event_type": "form_response",
    "form_response": {
        "form_id": "lT4Z3j",
        "token": "a3a12ec67a1365927098a606107fac15",
        "submitted_at": "2018-01-18T18:17:02Z",
        "landed_at": "2018-01-18T18:07:02Z",
        "calculated": {"score": 9},
        "variables": [
            {"key": "score", "type": "number", "number": 4},
            {"key": "name", "type": "text", "text": "typeform"},
        ],
        "hidden": {"user_id": "abc123456"},
        "definition": {
            "id": "lT4Z3j",
            "title": "Webhooks example",
            "fields": [
                {
                    "id": "DlXFaesGBpoF",
                    "title": "Thanks, {{answer_60906475}}! What's it like where you live? Tell"
                    " us in a few sentences.",
                    "type": "long_text",
                    "ref": "readable_ref_long_text",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "SMEUb7VJz92Q",
                    "title": "If you're OK with our city management following up if they have"
                    " further questions, please give us your email address.",
                    "type": "email",
                    "ref": "readable_ref_email",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "JwWggjAKtOkA",
                    "title": "What is your first name?",
                    "type": "short_text",
                    "ref": "readable_ref_short_text",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "KoJxDM3c6x8h",
                    "title": "When did you move to the place where you live?",
                    "type": "date",
                    "ref": "readable_ref_date",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "PNe8ZKBK8C2Q",
                    "title": "Which pictures do you like? You can choose as many as you like.",
                    "type": "picture_choice",
                    "ref": "readable_ref_picture_choice",
                    "allow_multiple_selections": True,
                    "allow_other_choice": False,
                },
                {
                    "id": "Q7M2XAwY04dW",
                    "title": "On a scale of 1 to 5, what rating would you give the weather in"
                    " Sydney? 1 is poor weather, 5 is excellent weather",
                    "type": "number",
                    "ref": "readable_ref_number1",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "gFFf3xAkJKsr",
                    "title": "By submitting this form, you understand and accept that we will"
                    " share your answers with city management. Your answers will be"
                    " anonymous will not be shared.",
                    "type": "legal",
                    "ref": "readable_ref_legal",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "k6TP9oLGgHjl",
                    "title": "Which of these cities is your favorite?",
                    "type": "multiple_choice",
                    "ref": "readable_ref_multiple_choice",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "RUqkXSeXBXSd",
                    "title": "Do you have a favorite city we haven't listed?",
                    "type": "yes_no",
                    "ref": "readable_ref_yes_no",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "NRsxU591jIW9",
                    "title": "How important is the weather to your opinion about a city? 1 is"
                    " not important, 5 is very important.",
                    "type": "opinion_scale",
                    "ref": "readable_ref_opinion_scale",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "WOTdC00F8A3h",
                    "title": "How would you rate the weather where you currently live? 1 is"
                    " poor weather, 5 is excellent weather.",
                    "type": "rating",
                    "ref": "readable_ref_rating",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "pn48RmPazVdM",
                    "title": "On a scale of 1 to 5, what rating would you give the general"
                    " quality of life in Sydney? 1 is poor, 5 is excellent",
                    "type": "number",
                    "ref": "readable_ref_number2",
                    "allow_multiple_selections": False,
                    "allow_other_choice": False,
                },
                {
                    "id": "M5tXK5kG7IeA",
                    "title": "Book a time with me",
                    "type": "calendly",
                    "ref": "readable_ref_calendly",
                    "properties": {},
                },
            ],
        },
        "answers": [
            {
                "type": "text",
                "text": "It's cold right now! I live in an older medium-sized city with a"
                " university. Geographically, the area is hilly.",
                "field": {"id": "DlXFaesGBpoF", "type": "long_text"},
            },
            {
                "type": "email",
                "email": "laura@example.com",
                "field": {"id": "SMEUb7VJz92Q", "type": "email"},
            },
            {
                "type": "text",
                "text": "Laura",
                "field": {"id": "JwWggjAKtOkA", "type": "short_text"},
            },
            {"type": "date", "date": "2005-10-15", "field": {"id": "KoJxDM3c6x8h", "type": "date"}},
            {
                "type": "choices",
                "choices": {"labels": ["London", "Sydney"]},
                "field": {"id": "PNe8ZKBK8C2Q", "type": "picture_choice"},
            },
            {"type": "number", "number": 5, "field": {"id": "Q7M2XAwY04dW", "type": "number"}},
            {"type": "boolean", "boolean": True, "field": {"id": "gFFf3xAkJKsr", "type": "legal"}},
            {
                "type": "choice",
                "choice": {"label": "London"},
                "field": {"id": "k6TP9oLGgHjl", "type": "multiple_choice"},
            },
            {
                "type": "boolean",
                "boolean": False,
                "field": {"id": "RUqkXSeXBXSd", "type": "yes_no"},
            },
            {
                "type": "number",
                "number": 2,
                "field": {"id": "NRsxU591jIW9", "type": "opinion_scale"},
            },
            {"type": "number", "number": 3, "field": {"id": "WOTdC00F8A3h", "type": "rating"}},
            {"type": "number", "number": 4, "field": {"id": "pn48RmPazVdM", "type": "number"}},
            {
                "type": "url",
                "url": "https://calendly.com/scheduled_events/EVENT_TYPE/invitees/INVITEE",
                "field": {
                    "id": "M5tXK5kG7IeA",
                    "type": "calendly",
                    "ref": "readable_ref_calendly",
                },
            },
        ],
    },
}

# Calendly's documented `invitee.created` example (the payload is the Invitee):
# https://developer.calendly.com/receive-data-from-scheduled-events-in-real-time-with-webhook-subscriptions
CALENDLY_EXAMPLE: dict[str, Any] = {
    "created_at": "2020-11-23T17:51:19.000000Z",
    "created_by": "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
    "event": "invitee.created",
    "payload": {
        "cancel_url": "https://calendly.com/cancellations/AAAAAAAAAAAAAAAA",
        "created_at": "2020-11-23T17:51:18.327602Z",
        "email": "test@example.com",
        "event": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2",
        "name": "John Doe",
        "new_invitee": None,
        "old_invitee": None,
        "questions_and_answers": [],
        "reschedule_url": "https://calendly.com/reschedulings/AAAAAAAAAAAAAAAA",
        "rescheduled": False,
        "status": "active",
        "text_reminder_number": None,
        "timezone": "America/New_York",
        "tracking": {
            "utm_campaign": None,
            "utm_source": None,
            "utm_medium": None,
            "utm_content": None,
            "utm_term": None,
            "salesforce_uuid": None,
        },
        "updated_at": "2020-11-23T17:51:18.341657Z",
        "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAAAAAAAAAAAAAA",
        "canceled": False,
    },
}

ORIGIN = "https://www.example.com"


@dataclass(frozen=True)
class ProjectToken:
    name: str  # workspaces/{w}/projectTokens/{id}
    secret: str

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", **extra}


@dataclass(frozen=True)
class ClientToken:
    name: str
    secret: str


def stub(channel: grpc.aio.Channel) -> integrations_pb2_grpc.IntegrationAdminServiceAsyncStub:
    return integrations_pb2_grpc.IntegrationAdminServiceStub(channel)


async def ensure_type(admin: Any, seed: DemoSeed, entity_type: entity_pb2.EntityType) -> str:
    """The entity type's id in the seed's workspace, created when missing."""
    name = f"{seed.workspace}/entityTypes/{entity_type.slug}"
    try:
        got = await admin.GetEntityType(
            admin_pb2.GetEntityTypeRequest(name=name), metadata=seed.auth
        )
        return str(got.entity_type.id)
    except Exception:  # noqa: BLE001 - NOT_FOUND: create it
        made = await admin.CreateEntityType(
            admin_pb2.CreateEntityTypeRequest(parent=seed.workspace, entity_type=entity_type),
            metadata=seed.auth,
        )
        return str(made.entity_type.id)


async def project_token(integrations: Any, seed: DemoSeed, name: str = "server") -> ProjectToken:
    made = await integrations.CreateProjectToken(
        integrations_pb2.CreateProjectTokenRequest(
            parent=seed.workspace, project_token=integrations_pb2.ProjectToken(display_name=name)
        ),
        metadata=seed.auth,
    )
    return ProjectToken(made.project_token.name, made.secret)


async def integration(
    integrations: Any,
    seed: DemoSeed,
    integration_id: str,
    type_: str,
    entity_type: str,
    *,
    mapping: Any = None,
    **values: Any,
) -> integrations_pb2.Integration:
    spec = integrations_pb2.Integration(type=type_, entity_type=entity_type, **values)
    if mapping is not None:
        spec.mapping.json = exactjson.dumps(mapping).decode()
    made = await integrations.CreateIntegration(
        integrations_pb2.CreateIntegrationRequest(
            parent=seed.workspace, integration_id=integration_id, integration=spec
        ),
        metadata=seed.auth,
    )
    found: integrations_pb2.Integration = made.integration
    return found


async def update_integration(
    integrations: Any, seed: DemoSeed, name: str, paths: list[str], **values: Any
) -> integrations_pb2.Integration:
    changed = await integrations.UpdateIntegration(
        integrations_pb2.UpdateIntegrationRequest(
            integration=integrations_pb2.Integration(name=name, **values),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        ),
        metadata=seed.auth,
    )
    found: integrations_pb2.Integration = changed.integration
    return found


async def client_token(
    integrations: Any,
    seed: DemoSeed,
    *,
    entity_type: str = "contact",
    origins: tuple[str, ...] = (ORIGIN,),
    **values: Any,
) -> ClientToken:
    made = await integrations.CreateClientToken(
        integrations_pb2.CreateClientTokenRequest(
            parent=seed.workspace,
            client_token=integrations_pb2.ClientToken(
                entity_type=entity_type, allowed_origins=list(origins), **values
            ),
        ),
        metadata=seed.auth,
    )
    return ClientToken(made.client_token.name, made.secret)


async def finished(http: httpx.AsyncClient, token: ProjectToken, request_id: str) -> dict[str, Any]:
    """The request's status once every item has an outcome."""

    async def check() -> dict[str, Any] | None:
        got = await http.get(
            f"/api/v1/external/data-ingestion/requests/{request_id}", headers=token.headers()
        )
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body if body["status"] in ("completed", "failed") else None

    found: dict[str, Any] = await until(check)
    return found


def request_id_of(answer: httpx.Response) -> str:
    """The id a 202 names: its X-Request-Id, also written in its message."""
    request_id = answer.headers["x-request-id"]
    assert request_id in answer.json()["message"], answer.text
    return request_id


async def one(url: str, sql: str, *params: Any) -> Any:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(sql, params)
        row = await cur.fetchone()
        return row[0] if row else None


async def run_sql(url: str, sql: str) -> None:
    """Statements without parameters (DDL in tests)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(sql.encode())


async def record(url: str, record_id: str) -> dict[str, Any]:
    """A record's stored values (json, read as sent)."""
    text = await one(url, "SELECT data::text FROM records WHERE id = %s", record_id)
    assert text is not None, record_id
    values: dict[str, Any] = json.loads(text)
    return values
