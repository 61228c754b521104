"""Every admin route over HTTP through the gateway, from the protos' google.api.http rules:
another workspace's admin token is 403 WRONG_WORKSPACE on each, and a bad or foreign
page_token is 400 naming page_token on each list."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests.admin_routes import PAGED, ROUTES, SERVICES, AdminRoute
from tests.messages import PROBLEM, bearer_header

pytestmark = pytest.mark.e2e


def _body(route: AdminRoute) -> dict[str, Any] | None:
    """A body the edge takes (valid JSON naming one updatable field), so the service judges."""
    if route.method in ("GET", "DELETE"):
        return None
    if route.rpc == "AdminService.UpdateField":
        return {"field": {"display_name": "x"}}
    if route.method == "PATCH":
        name = "description" if "webhookEndpoints" in route.template else "display_name"
        return {name: "x"}
    return {}


@pytest.fixture(scope="module")
async def two_workspaces(stack: Stack) -> tuple[DemoSeed, DemoSeed]:
    """The demo workspace and a second one whose token reaches for the first's resources."""
    async with channel(stack.address("store")) as ch:
        admin = admin_pb2_grpc.AdminServiceStub(ch)
        first = await demo.seed(
            admin, bootstrap_token=stack.bootstrap_token, workspace_slug=f"r{secrets.token_hex(5)}"
        )
        second = await demo.seed(
            admin, bootstrap_token=stack.bootstrap_token, workspace_slug=f"s{secrets.token_hex(5)}"
        )
    return first, second


def test_the_table_covers_every_admin_service() -> None:
    covered = {r.rpc.split(".")[0] for r in ROUTES}
    assert covered == {s.name for s in SERVICES}
    assert len(PAGED) >= 15


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.rpc}:{r.template}")
async def test_another_workspaces_admin_token_is_403_on_every_route(
    http: httpx.AsyncClient, two_workspaces: tuple[DemoSeed, DemoSeed], route: AdminRoute
) -> None:
    owner, other = two_workspaces
    workspace_id = owner.workspace.removeprefix("workspaces/")
    reply = await http.request(
        route.method,
        route.url(workspace_id),
        json=_body(route),
        headers=bearer_header(other.admin_token),
    )
    assert reply.status_code == 403, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    assert reply.json()["code"] == "WRONG_WORKSPACE", reply.text
    assert other.admin_token not in reply.text


@pytest.mark.parametrize("route", PAGED, ids=lambda r: f"{r.rpc}:{r.template}")
async def test_a_bad_or_foreign_page_token_is_400_naming_page_token_on_every_list(
    http: httpx.AsyncClient, two_workspaces: tuple[DemoSeed, DemoSeed], route: AdminRoute
) -> None:
    owner, _ = two_workspaces
    auth = bearer_header(owner.admin_token)
    # A real token of another list: the demo has several entity types, so a page of one
    # has a next page.
    types = await http.get(
        f"/admin/v1/{owner.workspace}/entityTypes", params={"page_size": 1}, headers=auth
    )
    assert types.status_code == 200, types.text
    foreign = types.json()["next_page_token"]
    if route.rpc == "AdminService.ListEntityTypes":
        # Its own token is taken by its own list, and refused for another parent.
        own = await http.get(
            route.url(owner.workspace.removeprefix("workspaces/")),
            params={"page_token": foreign},
            headers=auth,
        )
        assert own.status_code == 200, own.text
        foreign = await _token_of_another_list(http, owner)
    url = route.url(owner.workspace.removeprefix("workspaces/"))
    for token in ("bm9wZQ", "!!", foreign):
        reply = await http.get(url, params={"page_token": token}, headers=auth)
        assert reply.status_code == 400, (token, reply.text)
        assert reply.headers["content-type"].startswith(PROBLEM)
        problem = reply.json()
        assert problem["code"] == "INVALID_ARGUMENT", problem
        assert [e["field"] for e in problem["errors"]] == ["page_token"], problem
        assert problem["errors"][0]["code"] == "INVALID_PAGE_TOKEN", problem


async def _token_of_another_list(http: httpx.AsyncClient, owner: DemoSeed) -> str:
    auth = bearer_header(owner.admin_token)
    endpoints = await http.get(
        f"/admin/v1/{owner.workspace}/ingestEndpoints", params={"page_size": 1}, headers=auth
    )
    token = endpoints.json()["next_page_token"]
    assert isinstance(token, str)
    assert token
    return token
