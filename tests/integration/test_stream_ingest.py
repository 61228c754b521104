"""Stream ingest over real gRPC: matcher (with workers) → store → PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from inlet.admin.v1 import admin_pb2, streams_pb2
from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common.errors import reason_of, status_from_rpc_error, violations_of
from inlet_devstack import demo
from inlet_devstack.demo import bearer
from tests.messages import as_dict, push_request, stream_request
from tests.outbox_subscribers import subscribe
from tests.outbox_support import OUTBOX_EVENTS
from tests.polling import until
from tests.stream_support import (
    MEMBER,
    SEED_BATCH,
    SEED_SINGLE,
    SalesStream,
    StreamServers,
    finished,
    module_stream_fixtures,
    records_of,
    sales_stream,
    seed_workspace,
)
from tests.windows import steady_window

own_pool, ss = module_stream_fixtures("inlet_streams")


@pytest.fixture
async def seed(ss: StreamServers) -> demo.DemoSeed:
    return await seed_workspace(ss, "s")


@pytest.fixture
async def sales(ss: StreamServers, seed: demo.DemoSeed) -> SalesStream:
    return await sales_stream(ss.admin, ss.streams, seed)


async def ingest(
    ss: StreamServers, key: str, value: Any, **headers: str
) -> tuple[dict[str, Any], dict[str, str]]:
    metadata = [*bearer(key), *((k.replace("_", "-"), v) for k, v in headers.items())]
    call = ss.ingest.IngestStream(stream_request(value), metadata=metadata)
    response = await call
    initial = dict(await call.initial_metadata())
    return as_dict(response), {k: str(v) for k, v in initial.items()}


async def ingest_error(ss: StreamServers, key: str, value: Any, **headers: str) -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest(ss, key, value, **headers)
    return caught.value


async def test_single_item_is_accepted_then_processed(
    ss: StreamServers, sales: SalesStream
) -> None:
    answer, initial = await ingest(ss, sales.key, SEED_SINGLE)
    assert initial["x-http-code"] == "202"
    assert answer["success"] is True
    data = answer["data"]
    assert data["stream"] == sales.slug
    assert data["items_received"] == 1
    assert data["request_id"].startswith("req_")
    status = await finished(ss, sales.key, data["request_id"])
    assert status["status"] == "completed"
    [item] = status["items"]
    assert item["index"] == 0
    assert item["action"] == "created"
    [record] = await records_of(ss.pool, sales.entity_type_id)
    assert record["id"] == item["record_id"]
    assert record["revenue"] == 142000
    assert record["updated_at"] == "2026-04-06T10:30:00Z"


async def test_item_key_upserts_and_last_occurrence_wins(
    ss: StreamServers, sales: SalesStream
) -> None:
    answer, _ = await ingest(ss, sales.key, SEED_BATCH, x_item_key="region")
    first = await finished(ss, sales.key, answer["data"]["request_id"])
    assert [i["action"] for i in first["items"]] == ["created"] * 3
    batch = [
        {"region": "North", "revenue": 1},
        {"region": "West", "revenue": 2},
        {"region": "North", "revenue": 3},
    ]
    answer, _ = await ingest(ss, sales.key, batch, x_item_key="region")
    second = await finished(ss, sales.key, answer["data"]["request_id"])
    items = second["items"]
    assert items[0]["action"] == "superseded"
    assert items[0]["superseded_by"] == 2
    assert items[1]["action"] == "created"
    assert items[2]["action"] == "updated"
    assert items[2]["matched_on"] == ["region"]
    assert items[0]["record_id"] == items[2]["record_id"]
    records = await records_of(ss.pool, sales.entity_type_id)
    assert sorted(r["region"] for r in records) == ["East", "North", "South", "West"]
    assert next(r for r in records if r["region"] == "North")["revenue"] == 3


async def test_lookup_dependent_failures_are_item_outcomes_after_the_202(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    members = await sales_stream(ss.admin, ss.streams, seed, entity_type=MEMBER)
    first, _ = await ingest(ss, members.key, {"email": "kari@acme.no", "name": "Kari"})
    await finished(ss, members.key, first["data"]["request_id"])
    batch = [
        {"email": "KARI@acme.no"},  # an update may leave the name out
        {"email": "new@acme.no"},  # new, without its required name
        {"email": "ny@acme.no", "name": "Ny"},
    ]
    answer, initial = await ingest(ss, members.key, batch)
    assert initial["x-http-code"] == "202"
    status = await finished(ss, members.key, answer["data"]["request_id"])
    assert status["status"] == "completed"
    assert status["items_failed"] == 1
    assert [i["action"] for i in status["items"]] == ["updated", "failed", "created"]
    error = status["items"][1]["error"]
    assert error["code"] == "REQUIRED_FIELD_MISSING"
    assert [(f["field"], f["code"]) for f in error["fields"]] == [
        ("items[1].name", "REQUIRED_FIELD_MISSING")
    ]
    assert len(await records_of(ss.pool, members.entity_type_id)) == 2


async def test_all_items_failing_is_failed(ss: StreamServers, seed: demo.DemoSeed) -> None:
    members = await sales_stream(ss.admin, ss.streams, seed, entity_type=MEMBER)
    answer, _ = await ingest(ss, members.key, [{"email": "a@acme.no"}])
    status = await finished(ss, members.key, answer["data"]["request_id"])
    assert status["status"] == "failed"


async def _requests_of(ss: StreamServers, stream: str) -> int:
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM stream_requests r JOIN streams s ON s.id = r.stream_id"
            " WHERE s.slug = %s",
            (stream,),
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def _log_of(ss: StreamServers, seed: demo.DemoSeed, stream: SalesStream) -> list[Any]:
    log = await ss.streams.ListConnectorLogEntries(
        streams_pb2.ListConnectorLogEntriesRequest(parent=stream.name), metadata=seed.auth
    )
    return [as_dict(e) for e in log.connector_log_entries]


@pytest.mark.parametrize(
    ("value", "headers", "fields"),
    [
        ("text", {}, [("body", "INVALID_TYPE")]),
        ([], {}, [("body", "EMPTY_BODY")]),
        ({"colour": "red"}, {}, [("body.colour", "UNKNOWN_FIELD")]),
        ({"region": "x", "revenue": "a lot"}, {}, [("body.revenue", "INVALID_TYPE")]),
        ([{"region": "x"}, 5], {}, [("items[1]", "INVALID_TYPE")]),
        (
            [{"region": "x"}, {"revenue": 1}, {"region": " "}],
            {"x_item_key": "region"},
            [("items[1].region", "EMPTY_ITEM_KEY"), ("items[2].region", "EMPTY_ITEM_KEY")],
        ),
        ({"region": "x"}, {"x_item_key": "colour"}, [("X-Item-Key", "UNKNOWN_FIELD")]),
        ({"region": "x"}, {"idempotency_key": "k" * 256}, [("Idempotency-Key", "TOO_LONG")]),
    ],
)
async def test_invalid_payloads_name_every_field_and_store_nothing(
    ss: StreamServers,
    seed: demo.DemoSeed,
    sales: SalesStream,
    value: Any,
    headers: dict[str, str],
    fields: list[tuple[str, str]],
) -> None:
    error = await ingest_error(ss, sales.key, value, **headers)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_from_rpc_error(error)
    assert reason_of(status) == "INVALID_PAYLOAD"
    assert [(v.field, v.reason) for v in violations_of(status)] == fields
    assert fields[0][0] in error.details()
    assert await records_of(ss.pool, sales.entity_type_id) == []
    assert await _requests_of(ss, sales.slug) == 0
    [entry] = await _log_of(ss, seed, sales)
    assert (entry["status"], entry["status_code"]) == ("rejected", 400)
    [logged] = entry["errors"]
    assert logged["code"] == "INVALID_PAYLOAD"
    assert [(f["field"], f["code"]) for f in logged["fields"]] == fields


async def test_a_body_that_is_not_json_is_invalid_payload(
    ss: StreamServers, sales: SalesStream
) -> None:
    call = ss.ingest.IngestStream(stream_request(b"{x"), metadata=bearer(sales.key))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert reason_of(status_from_rpc_error(caught.value)) == "INVALID_PAYLOAD"
    assert "not valid JSON" in (caught.value.details() or "")
    assert await _requests_of(ss, sales.slug) == 0


async def test_hundreds_of_bad_items_list_the_first_and_count_them_all(
    ss: StreamServers, seed: demo.DemoSeed, sales: SalesStream
) -> None:
    batch = [{"region": f"r{i}", "revenue": "lots"} for i in range(800)]
    error = await ingest_error(ss, sales.key, batch)
    status = status_from_rpc_error(error)
    assert reason_of(status) == "INVALID_PAYLOAD"  # not lost to an oversized trailer
    listed = violations_of(status)
    assert 10 <= len(listed) <= 50
    assert [v.field for v in listed[:2]] == ["items[0].revenue", "items[1].revenue"]
    assert error.details().startswith("800 invalid fields: items[0].revenue")
    [entry] = await _log_of(ss, seed, sales)
    assert len(entry["errors"][0]["fields"]) == len(listed)
    assert await _requests_of(ss, sales.slug) == 0


async def test_a_changed_entity_type_is_checked_at_once(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    # Its own key, on a window that cannot roll over between the three counted calls.
    sales = await sales_stream(
        ss.admin, ss.streams, seed, rate_limit=6000, rate_window_seconds=steady_window()
    )
    # This matcher holds the stream's schema from the first request; the store tells it
    # when the type has changed, so the next request is judged on the new fields.
    await ingest(ss, sales.key, SEED_SINGLE)
    refused = await ingest_error(ss, sales.key, {"region": "x", "colour": "red"})
    assert [v.field for v in violations_of(status_from_rpc_error(refused))] == ["body.colour"]
    await ss.admin.CreateField(
        admin_pb2.CreateFieldRequest(
            parent=f"{seed.workspace}/entityTypes/sales",
            field=entity_pb2.Field(slug="colour", type=entity_pb2.FIELD_TYPE_TEXT),
        ),
        metadata=seed.auth,
    )
    answer, initial = await ingest(ss, sales.key, {"region": "x", "colour": "red"})
    assert initial["x-http-code"] == "202"
    status = await finished(ss, sales.key, answer["data"]["request_id"])
    assert status["items"][0]["action"] == "created"
    # Counted once each: the call that only fetched the new schema did not count.
    assert initial["ratelimit-remaining"] == str(6000 - 3)


async def test_bad_emails_and_phones_of_several_items_are_all_named(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    contacts = await sales_stream(ss.admin, ss.streams, seed, entity_type=demo.DEMO_TYPES[0])
    batch = [
        {"email": "ok@acme.no", "phone": "555-123-4567"},  # normalised, never refused
        {"email": "not-an-address"},
        {"phone": "n/a", "name": 5},
        {"email": "x@acme.no", "phone": "+47 400 00 000"},
    ]
    error = await ingest_error(ss, contacts.key, batch)
    status = status_from_rpc_error(error)
    assert [(v.field, v.reason) for v in violations_of(status)] == [
        ("items[1].email", "INVALID_EMAIL"),
        ("items[2].phone", "INVALID_PHONE"),
        ("items[2].name", "INVALID_TYPE"),
    ]
    assert error.details().startswith("3 invalid fields: items[1].email: ")
    assert await records_of(ss.pool, contacts.entity_type_id) == []
    assert await _requests_of(ss, contacts.slug) == 0


@pytest.mark.parametrize(
    "key",
    ["", "ik_live_x", "ik_live_0123456789abcdef_wrong", "sk_live_0123456789abcdef_x"],
)
async def test_bad_keys_are_unauthorized(ss: StreamServers, sales: SalesStream, key: str) -> None:
    error = await ingest_error(ss, key, SEED_SINGLE)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason_of(status_from_rpc_error(error)) == "UNAUTHORIZED"


async def test_wrong_secret_of_a_real_key_is_unauthorized(
    ss: StreamServers, sales: SalesStream
) -> None:
    forged = sales.key.rsplit("_", 1)[0] + "_" + "0" * 64
    error = await ingest_error(ss, forged, SEED_SINGLE)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_stream_name_must_match_the_key(ss: StreamServers, sales: SalesStream) -> None:
    error = await ingest_error(ss, sales.key, SEED_SINGLE, x_stream="other")
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(status_from_rpc_error(error)) == "STREAM_NOT_FOUND"
    answer, _ = await ingest(ss, sales.key, SEED_SINGLE, x_stream=sales.slug)
    assert answer["data"]["stream"] == sales.slug


async def test_idempotent_replay_same_request_id_processed_once(
    ss: StreamServers, sales: SalesStream
) -> None:
    first, initial = await ingest(ss, sales.key, SEED_BATCH, idempotency_key="sale-1")
    assert "idempotency-replayed" not in initial
    again, replay_md = await ingest(ss, sales.key, SEED_BATCH, idempotency_key="sale-1")
    assert again == first
    assert replay_md["idempotency-replayed"] == "true"
    assert replay_md["x-http-code"] == "202"
    await finished(ss, sales.key, first["data"]["request_id"])
    assert len(await records_of(ss.pool, sales.entity_type_id)) == 3
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM stream_requests r JOIN streams s ON s.id = r.stream_id"
            " WHERE s.slug = %s",
            (sales.slug,),
        )
        assert await cur.fetchone() == (1,)


@pytest.mark.parametrize(
    "other",
    [SEED_BATCH, {"region": "x", "colour": "red"}, "text"],
    ids=["other-items", "invalid-items", "not-items"],
)
async def test_same_idempotency_key_other_body_answers_the_first_202(
    ss: StreamServers, seed: demo.DemoSeed, sales: SalesStream, other: Any
) -> None:
    first, _ = await ingest(ss, sales.key, SEED_SINGLE, idempotency_key="k-other")
    await finished(ss, sales.key, first["data"]["request_id"])
    again, headers = await ingest(ss, sales.key, other, idempotency_key="k-other")
    assert again == first
    assert headers["idempotency-replayed"] == "true"
    assert headers["x-http-code"] == "202"
    assert await _requests_of(ss, sales.slug) == 1
    assert len(await records_of(ss.pool, sales.entity_type_id)) == 1
    replayed, accepted = await _log_of(ss, seed, sales)
    assert replayed["status"] == "replayed"
    assert replayed["replay_of"] == first["data"]["request_id"]
    assert replayed["body_differed"] is True
    assert accepted.get("body_differed", False) is False


async def test_same_idempotency_key_same_body_is_not_marked_differed(
    ss: StreamServers, seed: demo.DemoSeed, sales: SalesStream
) -> None:
    await ingest(ss, sales.key, [{"revenue": 1, "region": "N"}], idempotency_key="k-same")
    # Key order and spacing are not the body's meaning.
    await ingest(ss, sales.key, [{"region": "N", "revenue": 1}], idempotency_key="k-same")
    replayed, _ = await _log_of(ss, seed, sales)
    assert replayed["status"] == "replayed"
    assert replayed.get("body_differed", False) is False


async def test_repeat_while_first_is_being_accepted_is_409(
    ss: StreamServers, sales: SalesStream
) -> None:
    # The first request holds the key in state 'accepting' (as between its two steps).
    from inlet_store.inbox import body_hash

    async with ss.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO stream_idempotency_keys (scope_id, idempotency_key, body_hash,"
            " request_id, expire_time)"
            " SELECT id, 'k-409', %s, 'req_inflight', now() + interval '1 day' FROM streams"
            " WHERE slug = %s",
            (body_hash([SEED_SINGLE], True, ""), sales.slug),
        )
    error = await ingest_error(ss, sales.key, SEED_SINGLE, idempotency_key="k-409")
    assert error.code() == grpc.StatusCode.ABORTED
    assert reason_of(status_from_rpc_error(error)) == "IDEMPOTENCY_KEY_IN_USE"


async def test_a_claim_whose_store_died_before_the_accept_is_taken_over_by_the_retry(
    ss: StreamServers, sales: SalesStream
) -> None:
    # A store killed between the claim and the accept leaves the key 'accepting': past the
    # accept lease the client's retry takes it over instead of 409 until the key expires.
    from inlet_store.inbox.accepting import ACCEPT_LEASE_SECONDS, body_hash

    async with ss.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO stream_idempotency_keys (scope_id, idempotency_key, body_hash,"
            " request_id, create_time, expire_time)"
            " SELECT id, 'k-orphan', %s, 'req_dead', now() - make_interval(secs => %s),"
            " now() + interval '1 day' FROM streams WHERE slug = %s",
            (body_hash([SEED_SINGLE], True, ""), ACCEPT_LEASE_SECONDS + 1, sales.slug),
        )
    answer, headers = await ingest(ss, sales.key, SEED_SINGLE, idempotency_key="k-orphan")
    assert answer["data"]["request_id"] != "req_dead"
    assert "idempotency-replayed" not in headers
    again, replayed = await ingest(ss, sales.key, SEED_SINGLE, idempotency_key="k-orphan")
    assert again["data"]["request_id"] == answer["data"]["request_id"]
    assert replayed["idempotency-replayed"] == "true"


async def test_concurrent_identical_requests_are_one(ss: StreamServers, sales: SalesStream) -> None:
    async def attempt() -> str:
        try:
            answer, _ = await ingest(ss, sales.key, SEED_BATCH, idempotency_key="race")
        except grpc.aio.AioRpcError as error:
            return error.code().name  # ABORTED (409) while the first is mid-accept
        return str(answer["data"]["request_id"])

    results = await asyncio.gather(*(attempt() for _ in range(12)))
    assert {r for r in results if not r.startswith("req_")} <= {"ABORTED"}
    ids = {r for r in results if r.startswith("req_")}
    assert len(ids) == 1
    await finished(ss, sales.key, ids.pop())
    assert len(await records_of(ss.pool, sales.entity_type_id)) == 3


async def test_rate_limit_answers_429_with_window_state(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    window = steady_window()
    limited = await sales_stream(
        ss.admin, ss.streams, seed, rate_limit=2, rate_window_seconds=window
    )
    _, initial = await ingest(ss, limited.key, SEED_SINGLE)
    assert initial["ratelimit-limit"] == "2"
    assert initial["ratelimit-remaining"] == "1"
    await ingest(ss, limited.key, SEED_SINGLE)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest(ss, limited.key, SEED_SINGLE)
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(status_from_rpc_error(error)) == "RATE_LIMITED"
    headers = dict(error.initial_metadata() or ())
    assert headers["ratelimit-remaining"] == "0"
    assert 1 <= int(headers["retry-after"]) <= window


@pytest.mark.parametrize(
    ("mask", "limit", "window", "field"),
    [
        (["rate_limit"], 0, 0, "ingest_key.rate_limit"),
        (["rate_limit"], 1_000_001, 0, "ingest_key.rate_limit"),
        (["rate_window_seconds"], 0, 0, "ingest_key.rate_window_seconds"),
        (["rate_window_seconds"], 0, 86_401, "ingest_key.rate_window_seconds"),
    ],
)
async def test_key_rate_settings_out_of_bounds_are_refused_naming_the_field(
    ss: StreamServers,
    seed: demo.DemoSeed,
    sales: SalesStream,
    mask: list[str],
    limit: int,
    window: int,
    field: str,
) -> None:
    # The same bounds as endpoints: 0 would have blocked every request of the key.
    request = streams_pb2.UpdateIngestKeyRequest(
        ingest_key=streams_pb2.IngestKey(
            name=sales.key_name, rate_limit=limit, rate_window_seconds=window
        )
    )
    request.update_mask.paths.extend(mask)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ss.streams.UpdateIngestKey(request, metadata=seed.auth)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_from_rpc_error(caught.value)
    assert [v.field for v in violations_of(status)] == [field]
    # Nothing changed: the key still takes requests under its default window.
    _, headers = await ingest(ss, sales.key, SEED_SINGLE)
    assert headers["ratelimit-policy"] == "6000;w=60"


async def test_revoked_and_rotated_keys(
    ss: StreamServers, seed: demo.DemoSeed, sales: SalesStream
) -> None:
    rotated = await ss.streams.RotateIngestKey(
        streams_pb2.RotateIngestKeyRequest(name=sales.key_name, grace_seconds=0),
        metadata=seed.auth,
    )
    assert rotated.secret.startswith("ik_live_")
    assert rotated.secret != sales.key
    assert (await ingest_error(ss, sales.key, SEED_SINGLE)).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    await ingest(ss, rotated.secret, SEED_SINGLE)
    await ss.streams.RevokeIngestKey(
        streams_pb2.RevokeIngestKeyRequest(name=rotated.ingest_key.name), metadata=seed.auth
    )
    assert (await ingest_error(ss, rotated.secret, SEED_SINGLE)).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    listed = await ss.streams.ListIngestKeys(
        streams_pb2.ListIngestKeysRequest(parent=sales.name), metadata=seed.auth
    )
    assert len(listed.ingest_keys) == 2
    assert all(k.HasField("revoke_time") or k.HasField("expire_time") for k in listed.ingest_keys)
    assert all(sales.key.split("_")[3] not in str(k) for k in listed.ingest_keys)


async def test_admin_needs_the_workspace_token(ss: StreamServers, sales: SalesStream) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ss.streams.ListIngestKeys(
            streams_pb2.ListIngestKeysRequest(parent=sales.name),
            metadata=[("authorization", "Bearer nope")],
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_connector_log_lists_requests_with_status_and_errors(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    members = await sales_stream(ss.admin, ss.streams, seed, entity_type=MEMBER)
    answer, _ = await ingest(
        ss, members.key, [{"email": "a@acme.no", "name": "A"}, {"email": "b@acme.no"}]
    )
    await finished(ss, members.key, answer["data"]["request_id"])
    await ingest_error(ss, members.key, "text")
    rejected, accepted = await _log_of(ss, seed, members)
    assert rejected["status"] == "rejected"
    assert rejected["status_code"] == 400
    assert rejected["errors"][0]["code"] == "INVALID_PAYLOAD"
    assert accepted["request_id"] == answer["data"]["request_id"]
    assert accepted["status"] == "completed"
    assert accepted["items_received"] == 2
    assert accepted["items_failed"] == 1
    assert accepted["errors"][0]["index"] == 1


async def test_expired_lease_is_reclaimed_and_a_stale_worker_cannot_write(
    ss: StreamServers, sales: SalesStream
) -> None:
    await ss.workers.stop()  # this test plays the workers
    try:
        answer, _ = await ingest(ss, sales.key, SEED_BATCH)
        request_id = answer["data"]["request_id"]
        dead = await _claim(ss, lease=1)
        assert dead.request_id == request_id
        # The first claim's worker "died": once its lease runs out the request comes back.
        again = await until(lambda: _claim(ss, lease=1), within=10)
        assert again.request_id == request_id
        assert again.lease_token != dead.lease_token
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await ss.store.FinishStreamRequest(
                store_pb2.FinishStreamRequestRequest(
                    request_id=request_id, lease_token=dead.lease_token
                )
            )
        assert reason_of(status_from_rpc_error(caught.value)) == "LEASE_LOST"
        assert await ss.workers.process(again) == "completed"
    finally:
        ss.workers.start()
    status = await finished(ss, sales.key, request_id)
    assert [i["action"] for i in status["items"]] == ["created"] * 3
    assert len(await records_of(ss.pool, sales.entity_type_id)) == 3


async def _claim(ss: StreamServers, *, lease: int) -> Any:
    got = await ss.store.ClaimStreamRequests(
        store_pb2.ClaimStreamRequestsRequest(worker="test", lease_seconds=lease, max_requests=1)
    )
    return got.claims[0] if got.claims else None


async def test_racing_requests_with_the_same_item_keys_end_as_one_record_each(
    ss: StreamServers, sales: SalesStream
) -> None:
    regions = [f"r{i}" for i in range(40)]
    answers = await asyncio.gather(
        *(
            ingest(
                ss, sales.key, [{"region": r, "revenue": n} for r in regions], x_item_key="region"
            )
            for n in range(4)
        )
    )
    for answer, _ in answers:
        status = await finished(ss, sales.key, answer["data"]["request_id"])
        assert status["items_failed"] == 0
    records = await records_of(ss.pool, sales.entity_type_id)
    assert sorted(r["region"] for r in records) == sorted(regions)


async def test_an_expired_idempotency_key_is_free_again(
    ss: StreamServers, sales: SalesStream
) -> None:
    first, _ = await ingest(ss, sales.key, SEED_SINGLE, idempotency_key="old")
    async with ss.pool.connection() as conn:
        await conn.execute(
            "UPDATE stream_idempotency_keys SET expire_time = now() - interval '1 second'"
            " WHERE idempotency_key = 'old'"
        )
    again, headers = await ingest(ss, sales.key, SEED_BATCH, idempotency_key="old")
    assert again["data"]["request_id"] != first["data"]["request_id"]
    assert "idempotency-replayed" not in headers


async def test_reference_fields_take_existing_record_ids(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    contact = await ss.ingest.PushEndpoint(
        push_request(seed.tokens["contact"], {"fields": {"email": "ola@acme.no"}})
    )
    deals = await sales_stream(ss.admin, ss.streams, seed, entity_type=demo.DEMO_TYPES[2])
    batch = [
        {"title": "Big", "contact": contact.record.id},
        {"title": "Lost", "contact": "00000000-0000-0000-0000-000000000000"},
    ]
    answer, _ = await ingest(ss, deals.key, batch)
    status = await finished(ss, deals.key, answer["data"]["request_id"])
    assert [i["action"] for i in status["items"]] == ["created", "failed"]
    assert status["items"][1]["error"]["code"] == "UNKNOWN_REFERENCE"


# -- chunks applied set-based (inlet_store.chunks) --------------------------------------------


async def _contacts(ss: StreamServers, seed: demo.DemoSeed) -> SalesStream:
    await subscribe(ss.pool, seed.workspace.rpartition("/")[2])
    return await sales_stream(ss.admin, ss.streams, seed, entity_type=demo.DEMO_TYPES[0])


async def _events_of(ss: StreamServers, request_id: str) -> list[tuple[str, str]]:
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT type, coalesce(data->>'id', '') FROM {OUTBOX_EVENTS}"
            " WHERE data->'source'->>'request_id' = %s OR data->>'request_id' = %s"
            " ORDER BY seq, k",
            (request_id, request_id),
        )
        return [(str(t), str(i)) for t, i in await cur.fetchall()]


async def _keys_of(ss: StreamServers, entity_type_id: str) -> dict[tuple[str, str], str]:
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT field_slug, value, record_id::text FROM record_keys WHERE entity_type_id = %s",
            (entity_type_id,),
        )
        return {(s, v): r for s, v, r in await cur.fetchall()}


async def test_a_chunk_with_duplicates_and_a_conflict_applies_in_item_order(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    contacts = await _contacts(ss, seed)
    first, _ = await ingest(ss, contacts.key, [{"email": "x@acme.no"}, {"phone": "+47 400 00 001"}])
    made = await finished(ss, contacts.key, first["data"]["request_id"])
    x_id, y_id = (i["record_id"] for i in made["items"])
    batch = [
        {"name": "A1", "email": "a@acme.no"},
        {"name": "Both", "email": "x@acme.no", "phone": "+47 400 00 001"},  # two records
        {"name": "A2", "email": "a@acme.no", "phone": "+47 400 00 002"},  # the same as [0]
        {"name": "X", "email": "x@acme.no"},
    ]
    answer, _ = await ingest(ss, contacts.key, batch)
    request_id = answer["data"]["request_id"]
    status = await finished(ss, contacts.key, request_id)
    items = status["items"]
    assert [i["action"] for i in items] == ["created", "failed", "updated", "updated"]
    assert items[1]["error"]["code"] == "UNIQUE_CONFLICT"
    assert items[2]["record_id"] == items[0]["record_id"]
    assert items[2]["matched_on"] == ["email"]
    assert items[3]["record_id"] == x_id
    # Stored as each item has it: no match, error or successor is NULL, matched_on empty.
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT action, record_id IS NULL, matched_on, error IS NULL, superseded_by,"
            " related IS NULL FROM stream_request_items WHERE request_id = %s"
            " ORDER BY item_index",
            (request_id,),
        )
        assert await cur.fetchall() == [
            ("created", False, [], True, None, True),
            ("failed", True, [], False, None, True),
            ("updated", False, ["email"], True, None, True),
            ("updated", False, ["email"], True, None, True),
        ]
    records = {r["id"]: r for r in await records_of(ss.pool, contacts.entity_type_id)}
    assert records[items[0]["record_id"]]["name"] == "A2"
    assert records[x_id]["name"] == "X"
    assert "name" not in records[y_id]
    assert await _keys_of(ss, contacts.entity_type_id) == {
        ("email", "x@acme.no"): x_id,
        ("phone", "+4740000001"): y_id,
        ("email", "a@acme.no"): items[0]["record_id"],
        ("phone", "+4740000002"): items[0]["record_id"],
    }
    # One record.* event per applied item, in item order, then request.completed.
    assert await _events_of(ss, request_id) == [
        ("record.created", items[0]["record_id"]),
        ("record.updated", items[0]["record_id"]),
        ("record.updated", x_id),
        ("request.completed", ""),
    ]


async def test_a_request_longer_than_a_chunk_has_its_events_in_item_order(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    # More items than a chunk (the servers' workers take 50): applied chunk by chunk, each
    # chunk's events one outbox row, read back as the notifier's take makes them.
    contacts = await _contacts(ss, seed)
    batch = [{"name": f"C{n}", "email": f"c{n}@chunks.no"} for n in range(120)]
    answer, _ = await ingest(ss, contacts.key, batch)
    request_id = answer["data"]["request_id"]
    status = await finished(ss, contacts.key, request_id)
    ids = [i["record_id"] for i in status["items"]]
    assert len(set(ids)) == 120
    assert await _events_of(ss, request_id) == [
        *(("record.created", i) for i in ids),
        ("request.completed", ""),
    ]


async def test_an_applied_batch_writes_its_events_as_one_outbox_row_when_subscribed(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    workspace = seed.workspace.rpartition("/")[2]
    contacts = await sales_stream(ss.admin, ss.streams, seed, entity_type=demo.DEMO_TYPES[0])

    async def outbox() -> list[tuple[Any, ...]]:
        async with ss.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT type, event_count FROM outbox_events WHERE workspace_id = %s",
                (workspace,),
            )
            return list(await cur.fetchall())

    # No endpoint: nothing is written.
    first, _ = await ingest(ss, contacts.key, [{"email": "p@one.no"}, {"email": "q@one.no"}])
    await finished(ss, contacts.key, first["data"]["request_id"])
    assert await outbox() == []
    # With one: the request's two record events and its request.completed, one row.
    await subscribe(ss.pool, workspace)
    second, _ = await ingest(ss, contacts.key, [{"email": "r@one.no"}, {"email": "s@one.no"}])
    request_id = second["data"]["request_id"]
    await finished(ss, contacts.key, request_id)
    assert await outbox() == [("batch", 3)]
    assert [t for t, _ in await _events_of(ss, request_id)] == [
        "record.created",
        "record.created",
        "request.completed",
    ]


async def test_a_chunk_that_loses_a_key_race_is_redone_item_by_item(
    ss: StreamServers, seed: demo.DemoSeed
) -> None:
    contacts = await _contacts(ss, seed)
    await ss.workers.stop()  # this test plays the worker, with a racer beside it
    try:
        batch = [{"email": f"{n}@race.no", "name": f"N{n}"} for n in range(3)]
        answer, _ = await ingest(ss, contacts.key, batch)
        request_id = answer["data"]["request_id"]
        claimed = await _claim(ss, lease=30)
        assert claimed.request_id == request_id
        async with ss.pool.connection() as racer, racer.transaction():
            # The racer takes 1@race.no first and holds its transaction open.
            cur = await racer.execute(
                "INSERT INTO records (workspace_id, entity_type_id, data)"
                ' SELECT workspace_id, id, \'{"email": "1@race.no"}\' FROM entity_types'
                " WHERE id = %s RETURNING id::text",
                (contacts.entity_type_id,),
            )
            row = await cur.fetchone()
            assert row is not None
            racer_id = row[0]
            await racer.execute(
                "INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value,"
                " record_id) SELECT workspace_id, id, 'email', '1@race.no', %s"
                " FROM entity_types WHERE id = %s",
                (racer_id, contacts.entity_type_id),
            )
            processing = asyncio.create_task(ss.workers.process(claimed))
            await until(lambda: _waiting_on_a_lock(ss), within=10)
        assert await processing == "completed"
    finally:
        ss.workers.start()
    status = await finished(ss, contacts.key, request_id)
    items = status["items"]
    assert [i["action"] for i in items] == ["created", "updated", "created"]
    assert items[1]["record_id"] == racer_id
    keys = await _keys_of(ss, contacts.entity_type_id)
    assert keys[("email", "1@race.no")] == racer_id
    assert len(await records_of(ss.pool, contacts.entity_type_id)) == 3
    # The rolled-back fast path left no events behind: one per item, from the redo.
    assert [t for t, _ in await _events_of(ss, request_id)] == [
        "record.created",
        "record.updated",
        "record.created",
        "request.completed",
    ]


async def _waiting_on_a_lock(ss: StreamServers) -> bool:
    async with ss.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = await cur.fetchone()
        return bool(row and row[0])


async def test_items_judged_at_the_accept_are_planned_from_there(
    ss: StreamServers, sales: SalesStream
) -> None:
    assert ss.workers.judged is not None
    taken = ss.workers.judged.taken
    answer, _ = await ingest(ss, sales.key, SEED_BATCH)
    status = await finished(ss, sales.key, answer["data"]["request_id"])
    assert [i["action"] for i in status["items"]] == ["created"] * 3
    assert ss.workers.judged.taken == taken + 1
    records = await records_of(ss.pool, sales.entity_type_id)
    assert sorted(r["region"] for r in records) == sorted(str(i["region"]) for i in SEED_BATCH)


async def test_a_type_changed_between_accept_and_claim_is_judged_again(
    ss: StreamServers, seed: demo.DemoSeed, sales: SalesStream
) -> None:
    await ss.workers.stop()  # nothing is claimed until the type has changed
    try:
        answer, _ = await ingest(ss, sales.key, [{"region": "x", "revenue": 5}])
        await ss.admin.DeleteField(
            admin_pb2.DeleteFieldRequest(name=f"{seed.workspace}/entityTypes/sales/fields/revenue"),
            metadata=seed.auth,
        )
    finally:
        ss.workers.start()
    status = await finished(ss, sales.key, answer["data"]["request_id"])
    [item] = status["items"]
    assert item["action"] == "failed"
    assert item["error"]["fields"][0]["code"] == "UNKNOWN_FIELD"
