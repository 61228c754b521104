"""inlet_common.admin: resource names, paging, page tokens and timestamps, one behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from inlet.admin.v1 import admin_pb2
from inlet_common.admin import names, paging
from inlet_common.admin.paging import PageTokens
from inlet_common.admin.timestamps import optional_time, timestamp
from inlet_common.errors import InvalidArgument


@pytest.mark.parametrize(("asked", "given"), [(0, 50), (1, 1), (1000, 1000), (5000, 1000)])
def test_page_size_defaults_and_caps(asked: int, given: int) -> None:
    assert paging.page_size(asked) == given


def test_negative_page_size_is_refused_naming_it() -> None:
    with pytest.raises(InvalidArgument) as caught:
        paging.page_size(-1)
    assert [v.field for v in caught.value.violations] == ["page_size"]


def test_a_token_reads_back_in_its_own_list_only() -> None:
    when = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    tokens = PageTokens("streams", "workspaces/w1")
    token = tokens.encode(when, "abc", 7)
    assert "=" not in token  # unpadded: fits a query string as is
    cursor = tokens.decode(token, 3)
    assert cursor is not None
    assert paging.as_time(cursor[0]) == when
    assert paging.as_text(cursor[1]) == "abc"
    assert paging.as_int(cursor[2]) == 7
    assert tokens.decode("", 3) is None


@pytest.mark.parametrize(
    "token",
    [
        "!!",
        "bm9wZQ",
        "bm9wZQ==",
        PageTokens("ingestKeys", "workspaces/w1").encode("x"),  # another list
        PageTokens("streams", "workspaces/w2").encode("x"),  # another parent
        PageTokens("streams", "workspaces/w1").encode("x", "y"),  # another shape
    ],
)
def test_any_other_token_is_one_invalid_argument_naming_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        PageTokens("streams", "workspaces/w1").decode(token, 1)
    assert [(v.field, v.reason) for v in caught.value.violations] == [
        ("page_token", "INVALID_PAGE_TOKEN")
    ]


def test_a_cursor_of_the_wrong_kind_is_a_bad_token() -> None:
    with pytest.raises(InvalidArgument, match="page_token"):
        paging.as_int("12")
    with pytest.raises(InvalidArgument, match="page_token"):
        paging.as_time("yesterday")


def test_page_cuts_the_extra_row_into_a_token() -> None:
    tokens = PageTokens("n")
    page, token = tokens.page([{"id": 3}, {"id": 2}, {"id": 1}], 2, lambda r: (r["id"],))
    assert page == [{"id": 3}, {"id": 2}]
    assert tokens.decode(token, 1) == [2]
    assert tokens.page([{"id": 1}], 2, lambda r: (r["id"],)) == ([{"id": 1}], "")


def test_resource_names_parse_and_format() -> None:
    assert names.parts("name", "workspaces/w/streams/s", "workspaces", "streams") == ["w", "s"]
    assert names.name("workspaces", "w", "streams", "s") == "workspaces/w/streams/s"


@pytest.mark.parametrize(
    "bad",
    ["", "workspaces/w", "workspaces//streams/s", "spaces/w/streams/s", "workspaces/w/streams/s/x"],
)
def test_a_name_of_another_shape_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        names.parts("stream.name", bad, "workspaces", "streams")
    assert [(v.field, v.reason) for v in caught.value.violations] == [
        ("stream.name", "INVALID_NAME")
    ]
    assert "workspaces/{workspace}/streams/{stream}" in caught.value.message


def test_timestamps_are_utc_whatever_the_zone() -> None:
    oslo = datetime(2026, 12, 1, 16, 0, tzinfo=timezone(timedelta(hours=1)))
    stamp = timestamp(oslo)
    assert stamp is not None
    assert stamp.ToDatetime(tzinfo=UTC) == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    naive = timestamp(datetime(2026, 12, 1, 15, 0))
    assert naive is not None
    assert naive.ToDatetime(tzinfo=UTC) == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert timestamp(None) is None


def test_optional_time_is_none_when_unset() -> None:
    request = admin_pb2.SummarizeActivityRequest()
    assert optional_time(request, "start_time") is None
    request.start_time.FromDatetime(datetime(2026, 12, 1, tzinfo=UTC))
    assert optional_time(request, "start_time") == datetime(2026, 12, 1, tzinfo=UTC)
