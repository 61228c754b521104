"""Every admin route, read from the protos' google.api.http rules: its RPC, HTTP method,
path template and body field, for the tests that go over all of them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor

from inlet.admin.v1 import admin_pb2, integrations_pb2, push_pb2, streams_pb2
from inlet.notifier.v1 import webhooks_pb2

SERVICES = (
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"],
    streams_pb2.DESCRIPTOR.services_by_name["StreamAdminService"],
    integrations_pb2.DESCRIPTOR.services_by_name["IntegrationAdminService"],
    push_pb2.DESCRIPTOR.services_by_name["PushAdminService"],
    webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"],
)
# Installation-level calls: the bootstrap token, not a workspace's admin token.
BOOTSTRAP = {"CreateWorkspace", "CreateAdminToken"}
_VARIABLE = re.compile(r"\{([a-z_.]+)(?:=([^}]*))?\}")
_HTTP_RULE: Any = annotations_pb2.http


@dataclass(frozen=True)
class AdminRoute:
    rpc: str  # Service.Method
    method: str
    template: str  # e.g. /admin/v1/{parent=workspaces/*}/streams
    body: str
    paged: bool
    query: tuple[str, ...]  # the request's fields an HTTP client sends in the query string

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

    def path(self, ids: dict[str, str]) -> str:
        """The route's path with each `collection/*` of its variables filled from `ids`
        (collection → id, e.g. {"workspaces": "w1", "streams": "sales"})."""

        def fill(match: re.Match[str]) -> str:
            parts = (match.group(2) or "*").split("/")
            return "/".join(ids[parts[i - 1]] if p == "*" else p for i, p in enumerate(parts))

        return _VARIABLE.sub(fill, self.template)

    @property
    def name(self) -> str:
        return self.rpc.split(".")[1]


def _routes(*, bootstrap: bool) -> Iterator[AdminRoute]:
    for service in SERVICES:
        for method in service.methods:
            if (method.name in BOOTSTRAP) != bootstrap:
                continue
            rule = method.GetOptions().Extensions[_HTTP_RULE]
            for binding in (rule, *rule.additional_bindings):
                yield _route(method, binding)


def _route(method: descriptor.MethodDescriptor, binding: Any) -> AdminRoute:
    kind = binding.WhichOneof("pattern")
    template = str(getattr(binding, kind))
    in_path = {m.group(1).split(".")[0] for m in _VARIABLE.finditer(template)}
    fields = method.input_type.fields_by_name
    query = (
        ()
        if binding.body == "*"
        else tuple(f for f in fields if f not in in_path and f != binding.body)
    )
    return AdminRoute(
        rpc=f"{method.containing_service.name}.{method.name}",
        method=kind.upper(),
        template=template,
        body=binding.body,
        paged="page_token" in fields,
        query=query,
    )


ROUTES = sorted(_routes(bootstrap=False), key=lambda r: (r.rpc, r.template))
PAGED = [r for r in ROUTES if r.paged]
BOOTSTRAP_ROUTES = sorted(_routes(bootstrap=True), key=lambda r: (r.rpc, r.template))
