"""The edge's header rules as pure functions: media types, caps, the header block."""

from __future__ import annotations

import pytest

from inlet_common import mediatypes
from inlet_common.errors import reason_of
from inlet_common.httpstatus import http_status
from inlet_gateway import edge_headers


@pytest.mark.parametrize(
    "content_type",
    [b"application/json", b"Application/JSON; charset=utf-8", b"application/merge-patch+json"],
)
def test_json_media_types_pass(content_type: bytes) -> None:
    for required in (True, False):
        assert (
            mediatypes.check_json_content_type(content_type, required=required, body=True) is None
        )


def test_a_missing_type_is_refused_only_where_the_contract_requires_it() -> None:
    assert mediatypes.check_json_content_type(None, required=False, body=True) is None
    assert mediatypes.check_json_content_type(None, required=True, body=False) is None
    refused = mediatypes.check_json_content_type(b"", required=True, body=True)
    assert refused is not None
    status = refused.to_status()
    assert (http_status(status.code, reason_of(status)), reason_of(status)) == (
        400,
        "INVALID_PAYLOAD",
    )


@pytest.mark.parametrize("content_type", [b"text/xml", b"multipart/form-data; boundary=x", b";"])
def test_other_media_types_are_415_or_the_streams_400(content_type: bytes) -> None:
    other = mediatypes.check_json_content_type(content_type, required=False, body=True)
    assert other is not None
    status = other.to_status()
    assert http_status(status.code, reason_of(status)) == 415
    assert [v.field for v in other.violations] == ["Content-Type"]
    stream = mediatypes.check_json_content_type(content_type, required=True, body=True)
    assert stream is not None
    assert reason_of(stream.to_status()) == "INVALID_PAYLOAD"


def test_forwarded_values_cross_cut_one_past_their_cap() -> None:
    assert edge_headers.forwarded(b"idempotency-key", "k" * 60_000) == "k" * 256
    assert edge_headers.forwarded(b"idempotency-key", "k" * 255) == "k" * 255
    assert edge_headers.forwarded(b"x-item-key", "r" * 10_000) == "r" * 257
    assert edge_headers.forwarded(b"user-agent", "u" * 9_000) == "u" * 512
    assert edge_headers.forwarded(b"last-event-id", "9" * 9_000) == "9" * 65
    assert edge_headers.forwarded(b"x-other", "o" * 9_000) == "o" * 9_000


def test_the_header_block_is_measured_as_sent_and_431_past_64_kib() -> None:
    assert edge_headers.header_block_size([(b"host", b"x")]) == len(b"host: x\r\n")
    assert edge_headers.check_block([(b"x-pad", b"p" * 60_000)]) is None
    crowded = edge_headers.check_block([(b"x-pad", b"p" * 70_000)])
    assert crowded is not None
    status = crowded.to_status()
    assert http_status(status.code, reason_of(status)) == 431
