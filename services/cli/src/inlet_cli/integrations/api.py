"""IntegrationAdminService with the admin token: resource names, short-id look-ups, listings."""

from __future__ import annotations

import contextlib

import typer

from inlet.admin.v1 import integrations_pb2, integrations_pb2_grpc
from inlet_cli.client import Client, Settings, opened, resolve_id

_TOKEN_ID_LENGTH = 16


class Api(Client[integrations_pb2_grpc.IntegrationAdminServiceStub]):
    """IntegrationAdminService (served by the store, next to AdminService) with the admin token."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, integrations_pb2_grpc.IntegrationAdminServiceStub)

    def integration(self, integration_id: str) -> str:
        return f"{self.workspace}/integrations/{integration_id}"

    def project_token(self, token_id: str) -> str:
        if len(token_id) < _TOKEN_ID_LENGTH:
            token_id = resolve_id(
                token_id,
                (t.name.rsplit("/", 1)[-1] for t in all_project_tokens(self)),
                "project token",
                "PROJECT_TOKEN_NOT_FOUND",
            )
        return f"{self.workspace}/projectTokens/{token_id}"

    def client_token(self, token_id: str) -> str:
        if len(token_id) < _TOKEN_ID_LENGTH:
            token_id = resolve_id(
                token_id,
                (t.name.rsplit("/", 1)[-1] for t in all_client_tokens(self)),
                "client token",
                "CLIENT_TOKEN_NOT_FOUND",
            )
        return f"{self.workspace}/clientTokens/{token_id}"


def api(ctx: typer.Context) -> contextlib.AbstractContextManager[Api]:
    return opened(ctx.obj, Api)


def all_integrations(client: Api) -> list[integrations_pb2.Integration]:
    return client.every(
        client.stub.ListIntegrations,
        integrations_pb2.ListIntegrationsRequest(parent=client.workspace),
        "integrations",
    )


def all_project_tokens(client: Api) -> list[integrations_pb2.ProjectToken]:
    return client.every(
        client.stub.ListProjectTokens,
        integrations_pb2.ListProjectTokensRequest(parent=client.workspace),
        "project_tokens",
    )


def all_client_tokens(client: Api) -> list[integrations_pb2.ClientToken]:
    return client.every(
        client.stub.ListClientTokens,
        integrations_pb2.ListClientTokensRequest(parent=client.workspace),
        "client_tokens",
    )
