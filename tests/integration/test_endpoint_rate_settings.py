"""An ingest endpoint's rate limit through the admin API: defaults, create, update, refusals."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import admin_pb2
from inlet_common.errors import reason_of, status_from_rpc_error, violations_of
from inlet_devstack.demo import DemoSeed
from tests.integration.conftest import Servers

LIMIT = "ingest_endpoint.rate_limit"
WINDOW = "ingest_endpoint.rate_window_seconds"


async def create(
    servers: Servers, seeded: DemoSeed, *, rate_limit: int = 0, rate_window_seconds: int = 0
) -> admin_pb2.IngestEndpoint:
    made = await servers.admin.CreateIngestEndpoint(
        admin_pb2.CreateIngestEndpointRequest(
            parent=seeded.workspace,
            ingest_endpoint=admin_pb2.IngestEndpoint(
                entity_type="contact",
                rate_limit=rate_limit,
                rate_window_seconds=rate_window_seconds,
            ),
        ),
        metadata=seeded.auth,
    )
    endpoint: admin_pb2.IngestEndpoint = made.ingest_endpoint
    return endpoint


async def get(servers: Servers, seeded: DemoSeed, name: str) -> admin_pb2.IngestEndpoint:
    got = await servers.admin.GetIngestEndpoint(
        admin_pb2.GetIngestEndpointRequest(name=name), metadata=seeded.auth
    )
    endpoint: admin_pb2.IngestEndpoint = got.ingest_endpoint
    return endpoint


async def listed(servers: Servers, seeded: DemoSeed) -> dict[str, tuple[int, int]]:
    """Every endpoint of the workspace: name → (rate_limit, rate_window_seconds)."""
    page = await servers.admin.ListIngestEndpoints(
        admin_pb2.ListIngestEndpointsRequest(parent=seeded.workspace, page_size=500),
        metadata=seeded.auth,
    )
    return {e.name: (e.rate_limit, e.rate_window_seconds) for e in page.ingest_endpoints}


async def update(
    servers: Servers, seeded: DemoSeed, endpoint: admin_pb2.IngestEndpoint, *paths: str
) -> admin_pb2.IngestEndpoint:
    changed = await servers.admin.UpdateIngestEndpoint(
        admin_pb2.UpdateIngestEndpointRequest(
            ingest_endpoint=endpoint, update_mask=field_mask_pb2.FieldMask(paths=paths)
        ),
        metadata=seeded.auth,
    )
    result: admin_pb2.IngestEndpoint = changed.ingest_endpoint
    return result


def refused_fields(caught: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> list[str]:
    """The fields an INVALID_ARGUMENT names (after checking that it is one)."""
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_from_rpc_error(caught.value)
    assert reason_of(status) == "INVALID_ARGUMENT"
    violations = violations_of(status)
    assert all(v.reason == "INVALID_RATE" for v in violations)
    return [v.field for v in violations]


async def test_endpoints_get_the_default_rate_limit(servers: Servers, seeded: DemoSeed) -> None:
    made = await create(servers, seeded)
    assert (made.rate_limit, made.rate_window_seconds) == (6000, 60)
    # The seeded endpoints were created without rate settings too; every answer carries them.
    for name in [made.name, *seeded.endpoints.values()]:
        got = await get(servers, seeded, name)
        assert (got.rate_limit, got.rate_window_seconds) == (6000, 60)
    assert set((await listed(servers, seeded)).values()) == {(6000, 60)}


async def test_create_keeps_the_given_rate_limit(servers: Servers, seeded: DemoSeed) -> None:
    made = await create(servers, seeded, rate_limit=120, rate_window_seconds=30)
    assert (made.rate_limit, made.rate_window_seconds) == (120, 30)
    got = await get(servers, seeded, made.name)
    assert (got.rate_limit, got.rate_window_seconds) == (120, 30)
    assert (await listed(servers, seeded))[made.name] == (120, 30)

    # One setting given, the other defaulted.
    only_limit = await create(servers, seeded, rate_limit=10)
    assert (only_limit.rate_limit, only_limit.rate_window_seconds) == (10, 60)
    only_window = await create(servers, seeded, rate_window_seconds=3600)
    assert (only_window.rate_limit, only_window.rate_window_seconds) == (6000, 3600)


@pytest.mark.parametrize(("rate_limit", "rate_window_seconds"), [(1, 1), (1_000_000, 86_400)])
async def test_the_bounds_themselves_are_accepted(
    servers: Servers, seeded: DemoSeed, rate_limit: int, rate_window_seconds: int
) -> None:
    made = await create(
        servers, seeded, rate_limit=rate_limit, rate_window_seconds=rate_window_seconds
    )
    got = await get(servers, seeded, made.name)
    assert (got.rate_limit, got.rate_window_seconds) == (rate_limit, rate_window_seconds)


@pytest.mark.parametrize(
    ("rate_limit", "rate_window_seconds", "fields"),
    [
        (-1, 0, [LIMIT]),
        (1_000_001, 0, [LIMIT]),
        (0, -1, [WINDOW]),
        (0, 86_401, [WINDOW]),
        (-5, 100_000, [LIMIT, WINDOW]),
    ],
)
async def test_create_refuses_out_of_range_settings_and_writes_nothing(
    servers: Servers,
    seeded: DemoSeed,
    rate_limit: int,
    rate_window_seconds: int,
    fields: list[str],
) -> None:
    before = await listed(servers, seeded)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(
            servers, seeded, rate_limit=rate_limit, rate_window_seconds=rate_window_seconds
        )
    assert refused_fields(caught) == fields
    assert await listed(servers, seeded) == before


async def test_update_mask_changes_only_the_named_setting(
    servers: Servers, seeded: DemoSeed
) -> None:
    name = seeded.endpoints["contact"]
    limited = await update(
        servers,
        seeded,
        admin_pb2.IngestEndpoint(name=name, rate_limit=50, rate_window_seconds=999),
        "rate_limit",
    )
    assert (limited.rate_limit, limited.rate_window_seconds) == (50, 60)
    widened = await update(
        servers,
        seeded,
        admin_pb2.IngestEndpoint(name=name, rate_limit=1, rate_window_seconds=600),
        "rate_window_seconds",
    )
    assert (widened.rate_limit, widened.rate_window_seconds) == (50, 600)
    both = await update(
        servers,
        seeded,
        admin_pb2.IngestEndpoint(name=name, rate_limit=7, rate_window_seconds=1),
        "rate_limit",
        "rate_window_seconds",
    )
    assert (both.rate_limit, both.rate_window_seconds) == (7, 1)

    # Other paths leave the rate alone even though the message carries zeros for it.
    renamed = await update(
        servers, seeded, admin_pb2.IngestEndpoint(name=name, display_name="CRM"), "display_name"
    )
    assert renamed.display_name == "CRM"
    assert (renamed.rate_limit, renamed.rate_window_seconds) == (7, 1)
    got = await get(servers, seeded, name)
    assert (got.display_name, got.rate_limit, got.rate_window_seconds) == ("CRM", 7, 1)
    # The other endpoint of the workspace kept the default.
    other = await get(servers, seeded, seeded.endpoints["deal"])
    assert (other.rate_limit, other.rate_window_seconds) == (6000, 60)


async def test_an_empty_mask_over_grpc_changes_only_the_fields_set(
    servers: Servers, seeded: DemoSeed
) -> None:
    name = seeded.endpoints["contact"]
    before = await get(servers, seeded, name)

    # enabled=false, display_name="" and the window are unset (proto3 defaults): kept.
    changed = await update(servers, seeded, admin_pb2.IngestEndpoint(name=name, rate_limit=12))

    expected = admin_pb2.IngestEndpoint()
    expected.CopyFrom(before)
    expected.rate_limit = 12
    assert changed == expected
    assert changed.enabled
    assert await get(servers, seeded, name) == expected


@pytest.mark.parametrize(
    ("rate_limit", "rate_window_seconds", "paths", "fields"),
    [
        # On update 0 is a value, not "the default", and out of range like any other.
        (0, 0, ["rate_limit"], [LIMIT]),
        (-1, 0, ["rate_limit"], [LIMIT]),
        (1_000_001, 0, ["rate_limit"], [LIMIT]),
        (0, 0, ["rate_window_seconds"], [WINDOW]),
        (0, 86_401, ["rate_window_seconds"], [WINDOW]),
        (100, -3, ["rate_limit", "rate_window_seconds"], [WINDOW]),
        (0, 0, ["rate_limit", "rate_window_seconds", "display_name"], [LIMIT, WINDOW]),
    ],
)
async def test_update_refuses_out_of_range_settings_and_changes_nothing(
    servers: Servers,
    seeded: DemoSeed,
    rate_limit: int,
    rate_window_seconds: int,
    paths: list[str],
    fields: list[str],
) -> None:
    name = seeded.endpoints["contact"]
    await update(
        servers,
        seeded,
        admin_pb2.IngestEndpoint(name=name, rate_limit=300, rate_window_seconds=30),
        "rate_limit",
        "rate_window_seconds",
    )
    before = await get(servers, seeded, name)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await update(
            servers,
            seeded,
            admin_pb2.IngestEndpoint(
                name=name,
                display_name="changed",
                rate_limit=rate_limit,
                rate_window_seconds=rate_window_seconds,
            ),
            *paths,
        )
    assert refused_fields(caught) == fields
    assert await get(servers, seeded, name) == before


@pytest.mark.parametrize("paths", [["default_region"], ["rate_limit", "token"], []])
async def test_unknown_or_missing_mask_paths_are_still_refused(
    servers: Servers, seeded: DemoSeed, paths: list[str]
) -> None:
    name = seeded.endpoints["contact"]
    before = await get(servers, seeded, name)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await update(
            servers,
            seeded,
            admin_pb2.IngestEndpoint(name=name, rate_limit=5, default_region="SE"),
            *paths,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = violations_of(status_from_rpc_error(caught.value))
    assert [v.field for v in violations] == ["update_mask"]
    assert await get(servers, seeded, name) == before
