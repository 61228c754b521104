"""Push transfer end to end (the suite as processes, over HTTP): the seed's transfer, returned
data in push order, identity (internal_id, default upsert keys, disable_upsert, id), items
with their associations atomic, synchronous transfers, sample data, and the data, error and
completed webhooks verified with Standard Webhooks libraries on a loopback receiver, one at
a time in order unless webhook_concurrency."""

from __future__ import annotations

import asyncio
import copy
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
import standardwebhooks
import svix

from inlet.admin.v1 import admin_pb2_grpc, push_pb2, push_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo, postgres
from inlet_devstack.demo import DemoSeed
from inlet_devstack.ports import Ports
from inlet_devstack.stack import Stack, running
from tests.polling import until
from tests.push_support import PushSession, completed_data, push_session, seed_body
from tests.webhook_receiver import Answer, Receiver, receiving

pytestmark = pytest.mark.e2e

FAST_ENV = {
    "INLET_WEBHOOK_ALLOW_PRIVATE": "true",
    "INLET_WEBHOOK_RETRY_SCALE": "0.01",
    "INLET_WEBHOOK_POLL_SECONDS": "0.05",
    "INLET_WEBHOOK_TIMEOUT_SECONDS": "1",
    "INLET_WEBHOOK_LEASE_SECONDS": "2",
}


@pytest.fixture(scope="module")
async def own_url(server_url: str) -> AsyncIterator[str]:
    """A database of its own: the stack below delivers to loopback receivers."""
    url = postgres.create_database(server_url, f"inlet_e2e_push_{secrets.token_hex(3)}")
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="module")
async def suite(own_url: str) -> AsyncIterator[Stack]:
    logs = Path(tempfile.mkdtemp(prefix="inlet-e2e-push-"))
    async with running(own_url, ports=Ports(0, 0, 0, 0), log_dir=logs, extra_env=FAST_ENV) as s:
        yield s


@pytest.fixture(scope="module")
async def stubs(suite: Stack) -> AsyncIterator[tuple[Any, Any]]:
    async with channel(suite.address("store")) as ch:
        yield admin_pb2_grpc.AdminServiceStub(ch), push_pb2_grpc.PushAdminServiceStub(ch)


@pytest.fixture
async def workspace(suite: Stack, stubs: tuple[Any, Any]) -> DemoSeed:
    return await demo.seed(
        stubs[0], bootstrap_token=suite.bootstrap_token, workspace_slug=f"p{secrets.token_hex(6)}"
    )


@pytest.fixture
async def session(stubs: tuple[Any, Any], workspace: DemoSeed) -> PushSession:
    return await push_session(stubs[1], workspace)


@pytest.fixture
async def client(suite: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=suite.gateway_url, timeout=30) as http:
        yield http


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


async def push(http: httpx.AsyncClient, session: PushSession, body: dict[str, Any]) -> str:
    answer = await http.post("/api/push/transfer", json=body, headers=session.headers())
    assert answer.status_code == 200, answer.text
    transfer_id: str = answer.json()["transfer_id"]
    return transfer_id


async def pushed(
    http: httpx.AsyncClient, session: PushSession, body: dict[str, Any]
) -> dict[str, Any]:
    return await completed_data(http, session, await push(http, session, body))


def counts(url: str, workspace: DemoSeed) -> dict[str, int]:
    """Records per entity type of the workspace (samples apart)."""
    workspace_id = workspace.workspace.split("/")[1]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT t.slug || CASE WHEN r.sample THEN ':sample' ELSE '' END, count(*)"
            "  FROM records r JOIN entity_types t ON t.id = r.entity_type_id"
            " WHERE r.workspace_id = %s GROUP BY 1",
            (workspace_id,),
        ).fetchall()
    return {slug: n for slug, n in rows}


def linked(url: str, record_id: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT associated_record_id::text FROM record_associations WHERE record_id = %s",
            (record_id,),
        ).fetchall()
    return {r[0] for r in rows}


def without_internal_ids(body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for item in body["transfer_data"]:
        item.pop("internal_id", None)
        for entries in item.get("associations", {}).values():
            for entry in entries:
                entry.pop("internal_id", None)
    return body


def verified(got: Any, secret: str) -> dict[str, Any]:
    """A delivery's payload once two Standard Webhooks verifiers accept its signature."""
    svix.Webhook(secret).verify(got.body, got.headers)
    payload: dict[str, Any] = standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    return payload


async def test_the_seed_transfer_makes_two_contacts_and_three_companies_linked_as_shown(
    client: httpx.AsyncClient, session: PushSession, workspace: DemoSeed, own_url: str
) -> None:
    data = await pushed(client, session, seed_body(session.session_id))
    assert data["completed"] is True
    assert data["transfer_errors"] is False
    items = data["transfer_data"]
    assert [(i["index"], i["internal_id"], i["action"]) for i in items] == [
        (0, "Contact1", "created"),
        (1, "Contact2", "created"),
    ]
    assert [i["data"] for i in items] == [
        {"first_name": "Bob", "last_name": "Smith"},
        {"first_name": "David", "last_name": "Jones"},
    ]
    companies = [i["associations"]["crm-company"] for i in items]
    assert [[(c["internal_id"], c["data"]) for c in group] for group in companies] == [
        [("Company1", {"name": "Acme Corporation"}), ("Company2", {"name": "Bacme Corporation"})],
        [("Company3", {"name": "C Inc."})],
    ]
    assert counts(own_url, workspace) == {"crm-contact": 2, "crm-company": 3}
    assert linked(own_url, items[0]["id"]) == {c["id"] for c in companies[0]}
    assert linked(own_url, items[1]["id"]) == {companies[1][0]["id"]}


async def test_a_repush_with_the_same_internal_ids_updates_them_and_creates_nothing(
    client: httpx.AsyncClient, session: PushSession, workspace: DemoSeed, own_url: str
) -> None:
    first = await pushed(client, session, seed_body(session.session_id))
    body = seed_body(session.session_id)
    body["transfer_data"][0]["data"]["last_name"] = "Smith-Jones"
    body["transfer_data"][1]["associations"]["crm-company"][0]["data"]["name"] = "C Incorporated"
    second = await pushed(client, session, body)
    assert [i["action"] for i in second["transfer_data"]] == ["updated", "updated"]
    assert [i["id"] for i in second["transfer_data"]] == [i["id"] for i in first["transfer_data"]]
    assert second["transfer_data"][0]["data"]["last_name"] == "Smith-Jones"
    renamed = second["transfer_data"][1]["associations"]["crm-company"][0]
    assert renamed["id"] == first["transfer_data"][1]["associations"]["crm-company"][0]["id"]
    assert renamed["data"] == {"name": "C Incorporated"}
    assert counts(own_url, workspace) == {"crm-contact": 2, "crm-company": 3}
    # The same data with disable_upsert creates new records, and the internal ids then
    # name the new ones.
    fresh = await pushed(client, session, {**seed_body(session.session_id), "disable_upsert": True})
    assert [i["action"] for i in fresh["transfer_data"]] == ["created", "created"]
    assert not {i["id"] for i in fresh["transfer_data"]} & {i["id"] for i in first["transfer_data"]}
    assert counts(own_url, workspace) == {"crm-contact": 4, "crm-company": 6}
    again = await pushed(client, session, seed_body(session.session_id))
    assert [i["id"] for i in again["transfer_data"]] == [i["id"] for i in fresh["transfer_data"]]


async def test_without_internal_ids_the_default_keys_upsert_and_disable_upsert_creates(
    client: httpx.AsyncClient, session: PushSession, workspace: DemoSeed, own_url: str
) -> None:
    body = without_internal_ids(seed_body(session.session_id))
    first = await pushed(client, session, body)
    again = await pushed(client, session, body)
    # crm-contact on full name here (no e-mail or phone sent), crm-company on its name.
    assert [i["action"] for i in again["transfer_data"]] == ["updated", "updated"]
    assert [i["id"] for i in again["transfer_data"]] == [i["id"] for i in first["transfer_data"]]
    assert counts(own_url, workspace) == {"crm-contact": 2, "crm-company": 3}
    fresh = await pushed(client, session, {**body, "disable_upsert": True})
    assert [i["action"] for i in fresh["transfer_data"]] == ["created", "created"]
    assert counts(own_url, workspace) == {"crm-contact": 4, "crm-company": 6}
    # With twins, the oldest is the one matched.
    matched = await pushed(client, session, body)
    assert [i["id"] for i in matched["transfer_data"]] == [i["id"] for i in first["transfer_data"]]


async def test_email_is_tried_before_phone_and_full_name_and_domain_for_companies(
    client: httpx.AsyncClient, session: PushSession, workspace: DemoSeed, own_url: str
) -> None:
    def contact(data: dict[str, Any], company: dict[str, Any]) -> dict[str, Any]:
        return {
            "endgrate_type": "crm-contact",
            "session_id": session.session_id,
            "transfer_data": [{"data": data, "associations": {"crm-company": [{"data": company}]}}],
        }

    first = await pushed(
        client,
        session,
        contact(
            {"first_name": "Kari", "last_name": "Nordmann", "email": "kari@acme.no"},
            {"name": "Acme AS", "domain": "acme.no"},
        ),
    )
    # Another name, the same e-mail written differently; the domain as a URL.
    second = await pushed(
        client,
        session,
        contact(
            {"first_name": "Kari", "last_name": "Hansen", "email": "KARI@Acme.no"},
            {"name": "Acme Norge", "domain": "https://www.acme.no/om-oss"},
        ),
    )
    (one,) = first["transfer_data"]
    (two,) = second["transfer_data"]
    assert two["id"] == one["id"]
    assert two["data"]["last_name"] == "Hansen"
    assert (
        two["associations"]["crm-company"][0]["id"] == one["associations"]["crm-company"][0]["id"]
    )
    assert counts(own_url, workspace) == {"crm-contact": 1, "crm-company": 1}


async def test_one_bad_item_gets_one_error_webhook_and_the_others_are_applied(
    client: httpx.AsyncClient, session: PushSession, receiver: Receiver, workspace: DemoSeed
) -> None:
    metadata = {"user_id": 1, "ratio": "RATIO", "big": 9007199254740993}
    body = {
        "endgrate_type": "crm-contact",
        "session_id": session.session_id,
        "transfer_data": [
            {"data": {"first_name": "Ada", "email": "ada@example.com"}, "internal_id": "A"},
            {"data": {"first_name": "Bad", "email": "not-an-email"}, "internal_id": "B"},
            {
                "data": {"first_name": "Cy", "phone": "+47 998 87 766"},
                "associations": {"crm-company": [{"data": {"name": "Cy AS"}}]},
                "internal_id": "C",
            },
        ],
        "data_webhook": {"endpoint": receiver.script("/data"), "metadata": metadata},
        "completed_webhook": {"endpoint": receiver.script("/done"), "metadata": {"k": "done"}},
        "error_webhook": {"endpoint": receiver.script("/errors"), "metadata": {"k": "errors"}},
    }
    # Sent as text, so the metadata's numbers travel exactly as written.
    text = orjson.dumps(body).replace(b'"RATIO"', b"0.1000")
    answer = await client.post("/api/push/transfer", content=text, headers=session.headers())
    assert answer.status_code == 200, answer.text
    transfer_id = answer.json()["transfer_id"]
    await until(lambda: receiver.at("/done"), within=20.0, what="the completed webhook")
    (done,) = [verified(r, session.webhook_secret) for r in receiver.at("/done")]
    assert done == {
        "success": True,
        "transfer_id": transfer_id,
        "session_id": session.session_id,
        "endgrate": {"endgrate_type": "crm-contact"},
        "completed": True,
        "transfer_errors": True,
        "statistics": {"items": 3, "created": 2, "updated": 0, "failed": 1},
        "metadata": {"k": "done"},
        "request_id": answer.headers["x-request-id"],
    }
    (error,) = [verified(r, session.webhook_secret) for r in receiver.at("/errors")]
    assert error["index"] == 1
    assert error["internal_id"] == "B"
    assert error["error_type"] == "transfer_data"
    assert error["transfer_id"] == transfer_id
    assert error["metadata"] == {"k": "errors"}
    assert error["warn"] == []
    assert error["resolved"] is False
    assert "transfer_data[1].data.email" in error["error_resolve_text"]
    assert [f["field"] for f in error["fields"]] == ["transfer_data[1].data.email"]
    datas = [verified(r, session.webhook_secret) for r in receiver.at("/data")]
    assert datas[-1]["completed"] is True
    assert [i["index"] for d in datas for i in d["transfer_data"]] == [0, 2]
    assert all(d["transfer_errors"] for d in datas)
    # The metadata's numbers as sent, in the signed bytes.
    assert b'"ratio":0.1000' in receiver.at("/data")[0].body
    assert b'"big":9007199254740993' in receiver.at("/data")[0].body
    # Each webhook is its own message: a webhook-id of its own, the same on retries.
    ids = [r.webhook_id for r in receiver.received]
    assert len(ids) == len(set(ids))
    data = await completed_data(client, session, transfer_id)
    assert [(i["index"], i["action"]) for i in data["transfer_data"]] == [
        (0, "created"),
        (1, "failed"),
        (2, "created"),
    ]
    assert [(e["index"], e["internal_id"], e["code"]) for e in data["errors"]] == [
        (1, "B", "VALIDATION_FAILED")
    ]


async def test_an_item_is_applied_with_its_associations_or_not_at_all(
    client: httpx.AsyncClient, session: PushSession, workspace: DemoSeed, own_url: str
) -> None:
    body = {
        "endgrate_type": "crm-contact",
        "session_id": session.session_id,
        "transfer_data": [
            {
                "data": {"first_name": "Eve"},
                "associations": {
                    "crm-company": [{"data": {"name": "Fine AS"}}, {"data": {"phone": "no digits"}}]
                },
            },
            {"id": "00000000-0000-0000-0000-000000000000", "data": {"first_name": "Nobody"}},
            {"data": {"first_name": "Finn"}},
        ],
    }
    data = await pushed(client, session, body)
    assert [i["action"] for i in data["transfer_data"]] == ["failed", "failed", "created"]
    assert [(e["index"], e["code"], e["fields"][0]["field"]) for e in data["errors"]] == [
        (0, "VALIDATION_FAILED", "transfer_data[0].associations.crm-company[1].data.phone"),
        (1, "UNKNOWN_ID", "transfer_data[1].id"),
    ]
    # Neither Eve nor her first company: the item failed as a whole.
    assert counts(own_url, workspace) == {"crm-contact": 1}


async def test_id_names_the_record_to_update(
    client: httpx.AsyncClient, session: PushSession, workspace: DemoSeed, own_url: str
) -> None:
    first = await pushed(client, session, seed_body(session.session_id))
    bob = first["transfer_data"][0]["id"]
    data = await pushed(
        client,
        session,
        {
            "endgrate_type": "crm-contact",
            "session_id": session.session_id,
            "transfer_data": [{"id": bob, "data": {"title": "CTO"}, "internal_id": "Bob-2"}],
        },
    )
    (item,) = data["transfer_data"]
    assert (item["id"], item["action"]) == (bob, "updated")
    assert item["data"] == {"first_name": "Bob", "last_name": "Smith", "title": "CTO"}
    # The new internal_id now names Bob too.
    again = await pushed(
        client,
        session,
        {
            "endgrate_type": "crm-contact",
            "session_id": session.session_id,
            "transfer_data": [{"internal_id": "Bob-2", "data": {"title": "CEO"}}],
        },
    )
    assert again["transfer_data"][0]["id"] == bob
    assert counts(own_url, workspace)["crm-contact"] == 2


async def test_synchronous_answers_once_the_transfer_has_completed(
    client: httpx.AsyncClient, session: PushSession
) -> None:
    answer = await client.post(
        "/api/push/transfer",
        json={**seed_body(session.session_id), "synchronous": True},
        headers=session.headers(),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["completed"] is True
    got = await client.get(
        "/api/push/data",
        params={"transfer_id": answer.json()["transfer_id"]},
        headers=session.headers(),
    )
    data = got.json()
    assert data["completed"] is True
    assert [i["internal_id"] for i in data["transfer_data"]] == ["Contact1", "Contact2"]
    asynchronous = await client.post(
        "/api/push/transfer", json=seed_body(session.session_id), headers=session.headers()
    )
    assert asynchronous.json()["completed"] is False


async def test_sample_data_is_kept_out_of_listings_and_is_the_example(
    client: httpx.AsyncClient,
    session: PushSession,
    workspace: DemoSeed,
    stubs: tuple[Any, Any],
    own_url: str,
) -> None:
    sample = {"first_name": "Sam", "last_name": "Sample", "email": "sam@example.com"}
    body = {
        "endgrate_type": "crm-contact",
        "session_id": session.session_id,
        "sample_data": True,
        "transfer_data": [{"data": sample, "internal_id": "S1"}],
    }
    data = await pushed(client, session, body)
    assert data["transfer_data"][0]["action"] == "created"
    admin = {"Authorization": f"Bearer {workspace.admin_token}"}
    listed = await client.get(
        f"/admin/v1/{workspace.workspace}/entityTypes/crm-contact/records", headers=admin
    )
    assert listed.status_code == 200
    assert listed.json().get("records", []) == []
    assert counts(own_url, workspace) == {"crm-contact:sample": 1}
    example = await stubs[1].GetSessionExample(
        push_pb2.GetSessionExampleRequest(
            name=f"{workspace.workspace}/sessions/{session.session_id}"
        ),
        metadata=workspace.auth,
    )
    assert example.from_sample_data
    payload = orjson.loads(example.payload.json)
    assert payload["transfer_data"][0]["data"] == sample
    shown = {
        f.path.rsplit(".", 1)[1]: orjson.loads(v.json)
        for f, v in zip(example.fields, example.values, strict=True)
        if f.path.startswith("transfer_data[0].data.")
    }
    assert shown == sample
    # An endpoint of the type shows the sample's values in its example body too.
    endpoint = await client.post(
        f"/admin/v1/{workspace.workspace}/ingestEndpoints",
        json={"entity_type": "crm-contact", "display_name": "crm"},
        headers=admin,
    )
    assert endpoint.status_code == 200, endpoint.text
    body_example = await client.get(
        f"/admin/v1/{endpoint.json()['ingest_endpoint']['name']}/example", headers=admin
    )
    fields = body_example.json()["payload"]["fields"]
    assert {k: fields[k] for k in sample} == sample
    # Real data with the same internal_id and e-mail is not the sample: a record of its own.
    real = await pushed(client, session, {**body, "sample_data": False})
    assert real["transfer_data"][0]["action"] == "created"
    assert real["transfer_data"][0]["id"] != data["transfer_data"][0]["id"]
    assert counts(own_url, workspace) == {"crm-contact": 1, "crm-contact:sample": 1}


async def test_without_webhook_concurrency_a_urls_deliveries_go_one_at_a_time_in_order(
    client: httpx.AsyncClient, session: PushSession, receiver: Receiver, own_url: str
) -> None:
    # The first delivery fails twice and is retried: the others wait until it succeeds.
    url = receiver.script("/ordered", Answer(status=503), Answer(status=500))
    body = {
        "endgrate_type": "crm-contact",
        "session_id": session.session_id,
        "transfer_data": [
            {"data": {"email": "bad-1"}, "internal_id": "E1"},
            {"data": {"email": "bad-2"}, "internal_id": "E2"},
            {"data": {"first_name": "Ok"}, "internal_id": "OK"},
        ],
        "data_webhook": {"endpoint": url},
        "completed_webhook": {"endpoint": url},
        "error_webhook": {"endpoint": url},
    }
    transfer_id = await push(client, session, body)
    await until(lambda: len(receiver.at("/ordered")) == 6, within=20.0, what="all six requests")
    arrivals = receiver.at("/ordered")
    payloads = [verified(r, session.webhook_secret) for r in arrivals]
    kinds = [
        ("error", p["index"])
        if "error_type" in p
        else ("completed" if "statistics" in p else "data", None)
        for p in payloads
    ]
    # Three attempts of the first, then each of the others once, in the order written.
    assert kinds == [
        ("error", 0),
        ("error", 0),
        ("error", 0),
        ("error", 1),
        ("data", None),
        ("completed", None),
    ]
    # And never two at once: no attempt of one delivery overlaps another's.
    with psycopg.connect(own_url) as conn:
        overlapping = conn.execute(
            "SELECT count(*) FROM webhook_attempts a"
            "  JOIN webhook_deliveries da ON da.id = a.delivery_id"
            "  JOIN webhook_attempts b ON b.id <> a.id"
            "  JOIN webhook_deliveries db ON db.id = b.delivery_id"
            " WHERE da.ordering_key LIKE %s AND db.ordering_key = da.ordering_key"
            "   AND tstzrange(a.start_time, a.end_time) && tstzrange(b.start_time, b.end_time)",
            (f"{transfer_id} %",),
        ).fetchone()
    assert overlapping == (0,)


async def test_with_webhook_concurrency_deliveries_may_overlap(
    client: httpx.AsyncClient, session: PushSession, receiver: Receiver
) -> None:
    url = receiver.script("/concurrent", Answer(hang=True))
    body = {
        "endgrate_type": "crm-contact",
        "session_id": session.session_id,
        "transfer_data": [{"data": {"email": "bad"}}, {"data": {"first_name": "Ok"}}],
        "data_webhook": {"endpoint": url},
        "error_webhook": {"endpoint": url},
        "webhook_concurrency": True,
    }
    await push(client, session, body)
    await until(
        lambda: receiver.open_max.get("/concurrent", 0) >= 2, within=20.0, what="overlapping"
    )


async def test_session_default_webhooks_are_used_and_listed_as_deliveries(
    client: httpx.AsyncClient,
    stubs: tuple[Any, Any],
    workspace: DemoSeed,
    receiver: Receiver,
    suite: Stack,
) -> None:
    url = receiver.script("/default-done")
    made = await stubs[1].CreateSession(
        push_pb2.CreateSessionRequest(
            parent=workspace.workspace,
            session=push_pb2.Session(
                types=[push_pb2.SessionType(endgrate_type="crm-contact")],
                completed_webhook=push_pb2.PushWebhook(endpoint=url),
            ),
        ),
        metadata=workspace.auth,
    )
    key = await stubs[1].CreateApiKey(
        push_pb2.CreateApiKeyRequest(parent=workspace.workspace, api_key=push_pb2.ApiKey()),
        metadata=workspace.auth,
    )
    body = {
        "endgrate_type": "crm-contact",
        "session_id": made.session.session_id,
        "transfer_data": [{"data": {"first_name": "Dee"}}],
    }
    answer = await client.post(
        "/api/push/transfer", json=body, headers={"Authorization": f"Bearer {key.secret}"}
    )
    assert answer.status_code == 200
    await until(
        lambda: receiver.at("/default-done"), within=20.0, what="the default completed webhook"
    )
    payload = verified(receiver.at("/default-done")[0], made.webhook_secret)
    assert payload["transfer_id"] == answer.json()["transfer_id"]
    assert payload["metadata"] == {}
    deliveries = await client.get(
        f"/admin/v1/{made.session.webhook_endpoint}/deliveries",
        headers={"Authorization": f"Bearer {workspace.admin_token}"},
    )
    assert deliveries.status_code == 200, deliveries.text
    (delivery,) = deliveries.json()["webhook_deliveries"]
    assert delivery["url"] == url
    assert delivery["event_type"] == "push.completed"


async def test_a_custom_type_writes_through_its_field_map_with_exact_numbers(
    client: httpx.AsyncClient, stubs: tuple[Any, Any], workspace: DemoSeed, own_url: str
) -> None:
    session = await push_session(
        stubs[1],
        workspace,
        types=(
            push_pb2.SessionType(
                endgrate_type="my-lead",
                entity_type="contact",
                field_map={"full_name": "name", "work_email": "email"},
            ),
            push_pb2.SessionType(
                endgrate_type="my-deal", entity_type="deal", field_map={"amount": "value"}
            ),
        ),
    )
    text = (
        b'{"endgrate_type": "my-deal", "session_id": "' + session.session_id.encode() + b'",'
        b' "transfer_data": [{"data": {"title": "Renewal", "amount": 19.990},'
        b' "associations": {"my-lead": [{"data": {"full_name": "Ola", "work_email":'
        b' "OLA@acme.no"}}]}}]}'
    )
    answer = await client.post("/api/push/transfer", content=text, headers=session.headers())
    assert answer.status_code == 200, answer.text
    got = await client.get(
        "/api/push/data",
        params={"transfer_id": answer.json()["transfer_id"]},
        headers=session.headers(),
    )

    async def done() -> httpx.Response | None:
        found = await client.get(
            "/api/push/data",
            params={"transfer_id": answer.json()["transfer_id"]},
            headers=session.headers(),
        )
        return found if found.json()["completed"] else None

    got = await until(done, within=20.0, what="the transfer")
    assert b'"amount":19.990' in got.content
    (item,) = got.json()["transfer_data"]
    assert item["associations"]["my-lead"][0]["data"] == {
        "full_name": "Ola",
        "work_email": "ola@acme.no",
    }
    # contact's e-mail is unique: a second lead with it updates the same record.
    again = await pushed(
        client,
        session,
        {
            "endgrate_type": "my-lead",
            "session_id": session.session_id,
            "transfer_data": [{"data": {"full_name": "Ola N.", "work_email": "ola@acme.no"}}],
        },
    )
    assert again["transfer_data"][0]["id"] == item["associations"]["my-lead"][0]["id"]
    assert again["transfer_data"][0]["action"] == "updated"
    assert counts(own_url, workspace) == {"contact": 1, "deal": 1}


async def test_every_transfer_is_in_the_sessions_activity_log(
    client: httpx.AsyncClient, session: PushSession, workspace: DemoSeed, stubs: tuple[Any, Any]
) -> None:
    body = seed_body(session.session_id)
    body["transfer_data"][1]["data"]["email"] = "nope"
    transfer_id = await push(client, session, body)
    await completed_data(client, session, transfer_id)
    got = await stubs[1].ListPushLogEntries(
        push_pb2.ListPushLogEntriesRequest(
            parent=f"{workspace.workspace}/sessions/{session.session_id}"
        ),
        metadata=workspace.auth,
    )
    (entry,) = got.log_entries
    assert (entry.transfer_id, entry.status, entry.items_received, entry.items_failed) == (
        transfer_id,
        "completed",
        2,
        1,
    )
    (error,) = [orjson.loads(e.json) for e in entry.errors]
    assert (error["index"], error["internal_id"], error["code"]) == (
        1,
        "Contact2",
        "VALIDATION_FAILED",
    )


async def test_racing_transfers_of_one_new_person_end_as_one_record(
    client: httpx.AsyncClient, session: PushSession, workspace: DemoSeed, own_url: str
) -> None:
    def body(n: int) -> dict[str, Any]:
        return {
            "endgrate_type": "crm-contact",
            "session_id": session.session_id,
            "transfer_data": [
                {"data": {"first_name": f"Racer {n}"}, "internal_id": f"R{n}"},
                {"data": {"first_name": "Same", "email": "same@example.com"}},
                {"data": {"first_name": f"Other {n}", "email": f"o{n}@example.com"}},
            ],
        }

    transfer_ids = await asyncio.gather(*(push(client, session, body(n)) for n in range(6)))
    results = [await completed_data(client, session, t) for t in transfer_ids]
    same = {r["transfer_data"][1]["id"] for r in results}
    assert len(same) == 1
    actions = sorted(r["transfer_data"][1]["action"] for r in results)
    assert actions == ["created"] + ["updated"] * 5
    assert counts(own_url, workspace) == {"crm-contact": 13}
