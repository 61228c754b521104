"""List RPCs page newest first with opaque tokens; a foreign or forged token is refused."""

from __future__ import annotations

import grpc
import pytest

from inlet.admin.v1 import admin_pb2
from inlet_devstack.demo import DemoSeed
from tests.integration.conftest import Servers
from tests.messages import push_request


async def test_records_page_newest_first_without_gaps(servers: Servers, seeded: DemoSeed) -> None:
    created = []
    for n in range(5):
        request = push_request(seeded.tokens["contact"], {"fields": {"email": f"p{n}@acme.no"}})
        created.append((await servers.ingest.PushEndpoint(request)).record.id)
    parent = f"{seeded.workspace}/entityTypes/contact"
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await servers.admin.ListRecords(
            admin_pb2.ListRecordsRequest(parent=parent, page_size=2, page_token=token),
            metadata=seeded.auth,
        )
        seen.extend(r.name.rsplit("/", 1)[1] for r in page.records)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert seen == list(reversed(created))


async def test_endpoints_page_and_tokens_are_not_interchangeable(
    servers: Servers, seeded: DemoSeed
) -> None:
    first = await servers.admin.ListIngestEndpoints(
        admin_pb2.ListIngestEndpointsRequest(parent=seeded.workspace, page_size=1),
        metadata=seeded.auth,
    )
    assert len(first.ingest_endpoints) == 1
    assert first.next_page_token
    second = await servers.admin.ListIngestEndpoints(
        admin_pb2.ListIngestEndpointsRequest(
            parent=seeded.workspace, page_size=1, page_token=first.next_page_token
        ),
        metadata=seeded.auth,
    )
    names = {e.name for e in [*first.ingest_endpoints, *second.ingest_endpoints]}
    assert names == set(seeded.endpoints.values())
    assert not second.next_page_token
    # An endpoints token is no records token, and garbage is refused naming page_token.
    for bad in (first.next_page_token, "bm9wZQ=="):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await servers.admin.ListRecords(
                admin_pb2.ListRecordsRequest(
                    parent=f"{seeded.workspace}/entityTypes/contact", page_token=bad
                ),
                metadata=seeded.auth,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in (caught.value.details() or "")
