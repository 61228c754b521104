"""Push transfer's pure parts: reading a transfer body, webhook options, planning items
through a session's field maps, default upsert keys, and the bounded synchronous wait."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson, pushwebhooks
from inlet_matcher.transfer import PushTransfers, read_transfer
from inlet_matcher.transfer_items import plan_transfer
from inlet_store.push_standard import domain_key, match_keys

F = entity_pb2.Field
CONTACT = entity_pb2.EntityType(
    id="t-contact",
    slug="crm-contact",
    fields=[
        F(slug="first_name", type=entity_pb2.FIELD_TYPE_TEXT),
        F(slug="last_name", type=entity_pb2.FIELD_TYPE_TEXT),
        F(slug="email", type=entity_pb2.FIELD_TYPE_EMAIL),
        F(slug="phone", type=entity_pb2.FIELD_TYPE_PHONE),
    ],
)
LEAD = entity_pb2.EntityType(
    id="t-lead",
    slug="contact",
    fields=[
        F(slug="name", type=entity_pb2.FIELD_TYPE_TEXT, required=True),
        F(slug="email", type=entity_pb2.FIELD_TYPE_EMAIL, unique=True),
        F(slug="score", type=entity_pb2.FIELD_TYPE_NUMBER),
    ],
)


def body(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "endgrate_type": "crm-contact",
        "session_id": "6566e85e7cf20dca9cef0c0a",
        "transfer_data": [{"data": {"first_name": "Bob"}, "internal_id": "Contact1"}],
    }
    return orjson.dumps({**base, **fields})


def test_a_good_body_is_read_with_its_association_types_and_webhooks() -> None:
    read = read_transfer(
        body(
            transfer_data=[
                {"data": {}, "associations": {"crm-company": [{"data": {"name": "A"}}]}},
                {"data": {}, "associations": {"crm-company": [], "crm-deal": []}},
            ],
            data_webhook={"endpoint": "https://example.com/d", "metadata": {"a": 1}},
            error_webhook={"url": "https://example.com/e"},
            synchronous=True,
        )
    )
    assert read.problems == []
    assert read.association_types == {
        "crm-company": "transfer_data[0].associations.crm-company",
        "crm-deal": "transfer_data[1].associations.crm-deal",
    }
    assert read.webhooks == {
        "data": {"endpoint": "https://example.com/d", "metadata": {"a": 1}},
        "error": {"endpoint": "https://example.com/e"},
    }
    assert read.flags["synchronous"] is True
    assert read.flags["disable_upsert"] is False


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"endgrate_type": 5}, [("endgrate_type", "INVALID_TYPE")]),
        ({"transfer_data": [[]]}, [("transfer_data[0]", "INVALID_TYPE")]),
        (
            {"transfer_data": [{"data": {}, "id": True, "internal_id": ""}]},
            [
                ("transfer_data[0].id", "INVALID_TYPE"),
                ("transfer_data[0].internal_id", "INVALID_IDENTIFIER"),
            ],
        ),
        (
            {"transfer_data": [{"data": {}, "extra": 1}]},
            [("transfer_data[0].extra", "UNKNOWN_FIELD")],
        ),
        (
            {"transfer_data": [{"data": {}, "associations": []}]},
            [("transfer_data[0].associations", "INVALID_TYPE")],
        ),
        (
            {"transfer_data": [{"data": {}, "associations": {"x": {}}}]},
            [("transfer_data[0].associations.x", "INVALID_TYPE")],
        ),
        ({"data_webhook": {"metadata": {}}}, [("data_webhook.endpoint", "REQUIRED_FIELD_MISSING")]),
        ({"data_webhook": {"endpoint": "http://"}}, [("data_webhook.endpoint", "INVALID_URL")]),
        (
            {"data_webhook": {"endpoint": "https://x.test", "k": 1}},
            [("data_webhook.k", "UNKNOWN_FIELD")],
        ),
        ({"sample_data": "true"}, [("sample_data", "INVALID_TYPE")]),
    ],
)
def test_every_bad_field_of_a_body_is_named(
    changes: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    read = read_transfer(body(**changes))
    assert [(p.field, p.reason) for p in read.problems] == expected


def test_endgrates_bypass_rate_limit_is_taken_and_ignored() -> None:
    assert read_transfer(body(bypass_rate_limit=True)).problems == []


def test_a_webhook_url_must_be_http_with_a_host() -> None:
    assert pushwebhooks.url_problem("https://example.com/hook") == ""
    assert pushwebhooks.url_problem("mailto:x@example.com")
    assert pushwebhooks.url_problem("https://" + "a" * 3000)
    assert pushwebhooks.url_problem(7)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("acme.com", "acme.com"),
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("ACME.COM.", "acme.com"),
        ("acme.com:443", "acme.com"),
        ("sales@acme.com", "acme.com"),
    ],
)
def test_a_domain_keys_as_its_host(value: str, key: str) -> None:
    assert domain_key(value) == key


def test_default_keys_in_the_order_they_are_tried() -> None:
    assert match_keys(
        "crm-contact",
        {"first_name": " Bob ", "last_name": "SMITH", "email": "bob@acme.com", "phone": "+4799"},
    ) == {"email": "bob@acme.com", "phone": "+4799", "full_name": "bob smith"}
    assert match_keys("crm-contact", {"last_name": "Smith"}) == {"full_name": "smith"}
    assert match_keys("crm-company", {"name": "Acme  Corporation", "domain": "www.acme.com"}) == {
        "domain": "acme.com",
        "full_name": "acme corporation",
    }
    assert match_keys("my-lead", {"email": "a@b.c"}) == {}


def claim(items: list[Any], **push: Any) -> store_pb2.ClaimedStreamRequest:
    types = [
        store_pb2.PushSessionType(endgrate_type="crm-contact", entity_type=CONTACT),
        store_pb2.PushSessionType(
            endgrate_type="my-lead",
            entity_type=LEAD,
            field_map={"full_name": "name", "work_email": "email"},
        ),
    ]
    return store_pb2.ClaimedStreamRequest(
        source="push",
        items=exactjson.to_raw(items),
        push=store_pb2.PushClaim(
            endgrate_type=push.pop("endgrate_type", "crm-contact"), types=types, **push
        ),
    )


def test_items_are_planned_through_the_field_map_and_named_by_endgrate_field() -> None:
    planned = plan_transfer(
        claim(
            [
                {
                    "data": {"full_name": " Ola ", "work_email": "OLA@acme.no", "score": 0.10},
                    "internal_id": 7,
                },
                {"data": {"full_name": "Kari", "work_email": "nope"}},
            ],
            endgrate_type="my-lead",
        )
    )
    good, bad = planned
    assert good.internal_id == "7"
    assert exactjson.from_raw(good.entity.record.values) == {
        "name": "Ola",
        "email": "ola@acme.no",
        "score": exactjson.loads("0.10"),
    }
    assert list(good.entity.record.unique_fields) == ["email"]
    assert not bad.HasField("entity")
    error = exactjson.from_raw(bad.error)
    assert [f["field"] for f in error["fields"]] == ["transfer_data[1].data.work_email"]


def test_an_item_fails_with_a_bad_association_and_samples_take_no_unique_keys() -> None:
    planned = plan_transfer(
        claim(
            [
                {
                    "data": {"first_name": "Bob"},
                    "associations": {
                        "my-lead": [{"data": {"full_name": "A", "work_email": "a@b.no"}}],
                        "crm-gone": [{"data": {}}],
                    },
                },
                {"data": {"first_name": "Eve"}, "associations": {"my-lead": [{"data": {}}]}},
            ],
        )
    )
    first, second = planned
    assert [f["field"] for f in exactjson.from_raw(first.error)["fields"]] == [
        "transfer_data[0].associations.crm-gone[0]"
    ]
    assert [f["code"] for f in exactjson.from_raw(second.error)["fields"]] == ["EMPTY_DATA"]
    (sample,) = plan_transfer(
        claim(
            [{"data": {"full_name": "A", "work_email": "a@b.no"}}],
            endgrate_type="my-lead",
            sample_data=True,
        )
    )
    assert list(sample.entity.record.unique_fields) == []


def test_items_already_done_are_not_planned_again() -> None:
    claimed = claim([{"data": {"first_name": "A"}}, {"data": {"first_name": "B"}}])
    claimed.done_indices.append(0)
    assert [i.index for i in plan_transfer(claimed)] == [1]


class _NeverDone:
    def __init__(self) -> None:
        self.polls = 0

    async def transfer(self, request: Any) -> Any:
        self.polls += 1
        data = store_pb2.GetPushTransferResponse()
        data.data.completed = False
        return data


async def test_a_synchronous_wait_stops_at_its_maximum() -> None:
    store = _NeverDone()
    transfers = PushTransfers(store, sync_max_seconds=0.1)  # type: ignore[arg-type]
    assert await transfers._wait("ak_x_y", "0" * 24) is False
    assert store.polls >= 2
