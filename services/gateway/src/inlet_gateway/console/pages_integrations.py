"""Integration ingest: the workspace's integrations (create, enable or disable, settings and
request log) and the tokens that reach them: project tokens (create, rotate, revoke) and
client tokens of the external form (create, revoke)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.protobuf import field_mask_pb2

from inlet.admin.v1 import integrations_pb2
from inlet_common import exactjson
from inlet_gateway.console.credentials import (
    SHOWN_ONCE,
    grace_period,
    log_view,
    rotated,
    shown_once,
)
from inlet_gateway.console.pages_workspace import PAGE_SIZE, entity_types
from inlet_gateway.console.upstream import ApiError
from inlet_gateway.console.web import Reply, Request, Route, redirect

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console

LOG_PAGE_SIZE = 25
TYPES = ("GENERIC", "MAPPING", "TYPEFORM", "CALENDLY")
BACK = ("/console/integrations", "Back to integrations")


async def _project_tokens(console: Console, request: Request) -> Any:
    return await console.upstream.call(
        console.upstream.integrations.ListProjectTokens,
        integrations_pb2.ListProjectTokensRequest(
            parent=request.signed_in.workspace,
            page_size=PAGE_SIZE,
            page_token=request.query.get("project_page_token", ""),
        ),
        request.signed_in.token,
    )


async def integration_list(
    console: Console,
    request: Request,
    *,
    status: int = 200,
    error: str = "",
    fields: list[tuple[str, str]] | None = None,
) -> Reply:
    """The integrations, and the workspace's tokens that reach them (a project token
    reaches every integration of the workspace, so tokens are listed here, once)."""
    session = request.signed_in
    api = console.upstream.integrations
    page = await console.upstream.call(
        api.ListIntegrations,
        integrations_pb2.ListIntegrationsRequest(
            parent=session.workspace,
            page_size=PAGE_SIZE,
            page_token=request.query.get("page_token", ""),
        ),
        session.token,
    )
    project_tokens = await _project_tokens(console, request)
    client_tokens = await console.upstream.call(
        api.ListClientTokens,
        integrations_pb2.ListClientTokensRequest(
            parent=session.workspace,
            page_size=PAGE_SIZE,
            page_token=request.query.get("client_page_token", ""),
        ),
        session.token,
    )
    return console.page(
        request,
        "integrations.html",
        status=status,
        current="integrations",
        integrations=page.integrations,
        next_page_token=page.next_page_token,
        project_tokens=project_tokens.project_tokens,
        project_next_page_token=project_tokens.next_page_token,
        client_tokens=client_tokens.client_tokens,
        client_next_page_token=client_tokens.next_page_token,
        types=await entity_types(console, request),
        integration_types=TYPES,
        done=request.query.get("done", ""),
        error=error,
        fields=fields or [],
        form=request.form,
        ingest_url=f"{request.origin}/api/v1/external/data-ingestion/",
    )


async def integration_create(console: Console, request: Request) -> Reply:
    session = request.signed_in
    form = request.form
    integration_id = form.get("integration_id", "").strip()
    try:
        made = await console.upstream.call(
            console.upstream.integrations.CreateIntegration,
            integrations_pb2.CreateIntegrationRequest(
                parent=session.workspace,
                integration_id=integration_id,
                integration=integrations_pb2.Integration(
                    display_name=form.get("display_name", "").strip(),
                    type=form.get("type", ""),
                    entity_type=form.get("entity_type", ""),
                    default_region=form.get("default_region", "").strip().upper(),
                ),
            ),
            session.token,
        )
    except ApiError as error:
        return await integration_list(
            console, request, status=400, error=error.message, fields=error.fields
        )
    return redirect(f"/console/integrations/{made.integration.id}?done=created")


def _integration_name(request: Request) -> str:
    return f"{request.signed_in.workspace}/integrations/{request.params['integration']}"


async def integration_detail(console: Console, request: Request) -> Reply:
    session = request.signed_in
    got = await console.upstream.call(
        console.upstream.integrations.GetIntegration,
        integrations_pb2.GetIntegrationRequest(name=_integration_name(request)),
        session.token,
    )
    integration = got.integration
    log = await console.upstream.call(
        console.upstream.integrations.ListExternalActivityEntries,
        integrations_pb2.ListExternalActivityEntriesRequest(
            parent=integration.name,
            page_size=LOG_PAGE_SIZE,
            page_token=request.query.get("page_token", ""),
        ),
        session.token,
    )
    return console.page(
        request,
        "integration.html",
        current="integrations",
        integration=integration,
        mapping=exactjson.from_raw(integration.mapping, None),
        done=request.query.get("done", ""),
        ingest_url=f"{request.origin}/api/v1/external/data-ingestion/{integration.id}",
        project_tokens=(await _project_tokens(console, request)).project_tokens,
        log=[
            log_view(e, [("Route", e.route), ("Token", e.token)])
            for e in log.external_activity_entries
        ],
        next_page_token=log.next_page_token,
    )


async def integration_state(console: Console, request: Request) -> Reply:
    enabled = request.form.get("enabled") == "true"
    await console.upstream.call(
        console.upstream.integrations.UpdateIntegration,
        integrations_pb2.UpdateIntegrationRequest(
            integration=integrations_pb2.Integration(
                name=_integration_name(request), enabled=enabled
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        ),
        request.signed_in.token,
    )
    done = "enabled" if enabled else "disabled"
    return redirect(f"/console/integrations/{request.params['integration']}?done={done}")


# --- project tokens ---------------------------------------------------------------------------


def _project_token_name(request: Request) -> str:
    return f"{request.signed_in.workspace}/projectTokens/{request.params['token']}"


async def project_token_create(console: Console, request: Request) -> Reply:
    made = await console.upstream.call(
        console.upstream.integrations.CreateProjectToken,
        integrations_pb2.CreateProjectTokenRequest(
            parent=request.signed_in.workspace,
            project_token=integrations_pb2.ProjectToken(
                display_name=request.form.get("display_name", "").strip()
            ),
        ),
        request.signed_in.token,
    )
    return shown_once(
        console,
        request,
        current="integrations",
        title=f"Project token {made.project_token.prefix} created",
        what="project token",
        secret=made.secret,
        explain=(
            "Send it as Authorization: Bearer … to any integration's URL of this workspace. "
            f"{SHOWN_ONCE}"
        ),
        back=BACK,
    )


async def project_token_rotate(console: Console, request: Request) -> Reply:
    made = await console.upstream.call(
        console.upstream.integrations.RotateProjectToken,
        integrations_pb2.RotateProjectTokenRequest(
            name=_project_token_name(request), grace_period=grace_period(request)
        ),
        request.signed_in.token,
    )
    return rotated(
        console,
        request,
        current="integrations",
        what="project token",
        made=made.project_token,
        secret=made.secret,
        previous=made.previous,
        back=BACK,
    )


async def project_token_revoke(console: Console, request: Request) -> Reply:
    await console.upstream.call(
        console.upstream.integrations.RevokeProjectToken,
        integrations_pb2.RevokeProjectTokenRequest(name=_project_token_name(request)),
        request.signed_in.token,
    )
    return redirect("/console/integrations?done=revoked")


# --- client tokens ----------------------------------------------------------------------------


def _origins(text: str) -> list[str]:
    """Allowed origins as typed: separated by commas, spaces or lines."""
    return [origin for origin in text.replace(",", " ").split() if origin]


async def client_token_create(console: Console, request: Request) -> Reply:
    form = request.form
    try:
        made = await console.upstream.call(
            console.upstream.integrations.CreateClientToken,
            integrations_pb2.CreateClientTokenRequest(
                parent=request.signed_in.workspace,
                client_token=integrations_pb2.ClientToken(
                    display_name=form.get("display_name", "").strip(),
                    entity_type=form.get("entity_type", ""),
                    default_region=form.get("default_region", "").strip().upper(),
                    allowed_origins=_origins(form.get("allowed_origins", "")),
                ),
            ),
            request.signed_in.token,
        )
    except ApiError as error:
        return await integration_list(
            console, request, status=400, error=error.message, fields=error.fields
        )
    return shown_once(
        console,
        request,
        current="integrations",
        title=f"Client token {made.client_token.prefix} created",
        what="client token",
        secret=made.secret,
        explain=(
            f"It goes in the form's page, and works only from its allowed origins. {SHOWN_ONCE}"
        ),
        back=BACK,
    )


async def client_token_revoke(console: Console, request: Request) -> Reply:
    await console.upstream.call(
        console.upstream.integrations.RevokeClientToken,
        integrations_pb2.RevokeClientTokenRequest(
            name=f"{request.signed_in.workspace}/clientTokens/{request.params['token']}"
        ),
        request.signed_in.token,
    )
    return redirect("/console/integrations?done=revoked")


ROUTES = [
    Route("GET", "/console/integrations", integration_list),
    Route("POST", "/console/integrations", integration_create),
    Route("GET", "/console/integrations/{integration}", integration_detail),
    Route("POST", "/console/integrations/{integration}/state", integration_state),
    Route("POST", "/console/project-tokens", project_token_create),
    Route("POST", "/console/project-tokens/{token}/rotate", project_token_rotate),
    Route("POST", "/console/project-tokens/{token}/revoke", project_token_revoke),
    Route("POST", "/console/client-tokens", client_token_create),
    Route("POST", "/console/client-tokens/{token}/revoke", client_token_revoke),
]
