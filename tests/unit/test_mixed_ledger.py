"""The chaos and soak ledger's verdicts, and the soak's growth flags, on made-up outcomes."""

from __future__ import annotations

from bench.mixed.ledger import Ack, Delivery, Ledger
from bench.mixed.soak import Interval, growth_flags


def ack(marker: str, **values: object) -> Ack:
    return Ack("endpoint", 200, marker, {"email": marker, **values}, "req_x")


def created(webhook_id: str, marker: str) -> Delivery:
    return Delivery(webhook_id, "record.created", {"fields": {"email": marker}})


def test_every_acknowledged_item_stored_once_and_announced_once_is_ok() -> None:
    ledger = Ledger()
    ledger.add(ack("mx-a@acme.no", name="A"))
    records = [{"email": "mx-a@acme.no", "name": "A"}, {"email": "someone@acme.no"}]
    # The same webhook-id delivered twice is one event (at-least-once delivery).
    events = [created("msg_1", "mx-a@acme.no"), created("msg_1", "mx-a@acme.no")]
    verdict = ledger.judge(records, events)
    assert verdict.ok
    assert (verdict.acknowledged, verdict.redelivered) == (1, 1)


def test_lost_doubled_wrong_and_unannounced_items_are_each_named() -> None:
    ledger = Ledger()
    for marker in ("mx-lost@acme.no", "mx-two@acme.no", "mx-bad@acme.no", "mx-quiet@acme.no"):
        ledger.add(ack(marker, name="N"))
    records = [
        {"email": "mx-two@acme.no", "name": "N"},
        {"email": "mx-two@acme.no", "name": "N"},
        {"email": "mx-bad@acme.no", "name": "changed"},
        {"email": "mx-quiet@acme.no", "name": "N"},
    ]
    events = [created("msg_2", "mx-two@acme.no"), created("msg_3", "mx-bad@acme.no")]
    verdict = ledger.judge(records, events)
    assert not verdict.ok
    assert verdict.lost == ["endpoint:mx-lost@acme.no"]
    assert verdict.duplicated == ["endpoint:mx-two@acme.no"]
    assert verdict.wrong_values == ["endpoint:mx-bad@acme.no"]
    assert verdict.undelivered == ["endpoint:mx-quiet@acme.no"]


def test_two_events_for_one_item_are_a_duplicate() -> None:
    ledger = Ledger()
    ledger.add(ack("mx-a@acme.no"))
    events = [created("msg_1", "mx-a@acme.no"), created("msg_2", "mx-a@acme.no")]
    verdict = ledger.judge([{"email": "mx-a@acme.no"}], events)
    assert verdict.duplicated == ["endpoint:mx-a@acme.no"]


def test_growth_is_flagged_from_the_second_interval_to_the_last() -> None:
    def at(index: int, rss: float, p99: float) -> Interval:
        return Interval(index, 600, 60.0, p99, {"store": rss})

    flat = [at(1, 60, 900), at(2, 80, 100), at(3, 85, 120), at(4, 90, 110)]
    assert growth_flags(flat) == []
    grown = [at(1, 60, 100), at(2, 80, 100), at(3, 120, 150), at(4, 160, 250)]
    assert growth_flags(grown) == ["store RSS grew 80 → 160 MiB", "p99 grew 100 → 250 ms"]
