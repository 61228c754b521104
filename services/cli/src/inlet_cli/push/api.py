"""PushAdminService with the admin token: resource names and how its times print."""

from __future__ import annotations

import contextlib
from typing import Any

import typer

from inlet.admin.v1 import push_pb2_grpc
from inlet_cli.client import Client, Settings, opened


class Api(Client[push_pb2_grpc.PushAdminServiceStub]):
    """PushAdminService (served by the store, next to AdminService) with the admin token."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, push_pb2_grpc.PushAdminServiceStub)

    def key(self, key_id: str) -> str:
        return f"{self.workspace}/apiKeys/{key_id.removeprefix('ak_')}"

    def session(self, session_id: str) -> str:
        return f"{self.workspace}/sessions/{session_id}"


def api(ctx: typer.Context) -> contextlib.AbstractContextManager[Api]:
    return opened(ctx.obj, Api)


def when(stamp: Any) -> str:
    return stamp.ToDatetime().isoformat(timespec="seconds") + "Z" if stamp.seconds else ""
