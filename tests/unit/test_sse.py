"""Server-Sent Events rendering of a server-streaming RPC's messages (inlet_common.sse)."""

from __future__ import annotations

from inlet.ingest.v1 import feed_pb2
from inlet_common import exactjson, sse


def test_a_change_is_an_event_with_its_position_as_id_and_exact_values() -> None:
    change = feed_pb2.StreamItemChange(
        position=7,
        stream="sales",
        item_key="North",
        action="updated",
        values=exactjson.to_raw(exactjson.loads(b'{"revenue": 123.450}')),
    )
    text = sse.event(feed_pb2.WatchStreamResponse(change=change)).decode()
    assert text.startswith("id: 7\nevent: change\ndata: {")
    assert text.endswith("}\n\n")
    assert '"values":{"revenue":123.450}' in text
    assert text.count("\n") == 4  # one data line: JSON has no raw newlines


def test_a_heartbeat_is_a_comment_and_dropped_keeps_the_resume_position() -> None:
    beat = feed_pb2.WatchStreamResponse(heartbeat=feed_pb2.Heartbeat(position=3))
    assert sse.event(beat) == b": heartbeat 3\n\n"
    dropped = feed_pb2.WatchStreamResponse(dropped=feed_pb2.Dropped(position=9, reason="behind"))
    assert sse.event(dropped) == (
        b'id: 9\nevent: dropped\ndata: {"position":"9","reason":"behind"}\n\n'
    )
    assert sse.opening() == b"retry: 1000\n\n"


def test_an_error_after_the_start_is_the_last_event() -> None:
    assert sse.error_event(b'{"success":false}') == b'event: error\ndata: {"success":false}\n\n'
