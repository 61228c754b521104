"""Every admin route over HTTP through the gateway, from the protos' google.api.http rules:
another workspace's admin token is 403 WRONG_WORKSPACE on each, and a bad or foreign
page_token is 400 naming page_token on each list."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc, integrations_pb2, push_pb2, streams_pb2
from inlet.notifier.v1 import webhooks_pb2
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests.messages import PROBLEM, bearer_header

pytestmark = pytest.mark.e2e

_SERVICES = (
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"],
    streams_pb2.DESCRIPTOR.services_by_name["StreamAdminService"],
    integrations_pb2.DESCRIPTOR.services_by_name["IntegrationAdminService"],
    push_pb2.DESCRIPTOR.services_by_name["PushAdminService"],
    webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"],
)
# Installation-level calls: the bootstrap token, not a workspace's admin token.
_BOOTSTRAP = {"CreateWorkspace", "CreateAdminToken"}
_VARIABLE = re.compile(r"\{([a-z_.]+)(?:=([^}]*))?\}")
_HTTP_RULE: Any = annotations_pb2.http


@dataclass(frozen=True)
class AdminRoute:
    rpc: str
    method: str
    template: str  # e.g. /admin/v1/{parent=workspaces/*}/streams
    body: str
    paged: bool

    def url(self, workspace_id: str) -> str:
        """The route's path for resources of `workspace_id` (other ids made up: the
        checks under test come before any lookup)."""
        counter = iter(range(1, 100))

        def fill(match: re.Match[str]) -> str:
            pattern = match.group(2) or "*"
            filled = pattern.replace("*", "{}", 1) if pattern.startswith("workspaces/") else pattern
            filled = filled.format(workspace_id) if "{}" in filled else filled
            return re.sub(r"\*", lambda _: f"x{next(counter)}", filled)

        return _VARIABLE.sub(fill, self.template)


def _routes() -> Iterator[AdminRoute]:
    for service in _SERVICES:
        for method in service.methods:
            if method.name in _BOOTSTRAP:
                continue
            rule = method.GetOptions().Extensions[_HTTP_RULE]
            for binding in (rule, *rule.additional_bindings):
                yield _route(method, binding)


def _route(method: descriptor.MethodDescriptor, binding: Any) -> AdminRoute:
    kind = binding.WhichOneof("pattern")
    return AdminRoute(
        rpc=f"{method.containing_service.name}.{method.name}",
        method=kind.upper(),
        template=str(getattr(binding, kind)),
        body=binding.body,
        paged="page_token" in method.input_type.fields_by_name,
    )


ROUTES = sorted(_routes(), key=lambda r: (r.rpc, r.template))
PAGED = [r for r in ROUTES if r.paged]


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
    assert covered == {s.name for s in _SERVICES}
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
