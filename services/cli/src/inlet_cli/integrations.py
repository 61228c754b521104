"""`inlet integrations …`, `inlet project-tokens …` and `inlet client-tokens …`: integration
ingest's set-up (integrations and their mappings, the external API's server tokens, the
form's client tokens) and the activity log of every request that named a valid token."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer
from google.api import httpbody_pb2
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import integrations_pb2, integrations_pb2_grpc
from inlet_cli import render
from inlet_cli.client import (
    Client,
    Settings,
    duration,
    json_mode,
    opened,
    output_mode,
    rate_limit_option,
    resolve_id,
    show_secret,
    usage_error,
    whole_seconds,
)
from inlet_cli.render import Column
from inlet_common import exactjson
from inlet_common.durations import format_duration

integrations = typer.Typer(
    help="Integrations: where POST /api/v1/external/data-ingestion/{id} writes, and how.",
    no_args_is_help=True,
)
project_tokens = typer.Typer(
    help="Project access tokens (pat_…): the external API's server tokens.", no_args_is_help=True
)
client_tokens = typer.Typer(
    help="Client tokens (pct_…) of the external form, bound to origins.", no_args_is_help=True
)

TYPES = ("GENERIC", "MAPPING", "TYPEFORM", "CALENDLY")
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
                (t.name.rsplit("/", 1)[-1] for t in _all_project_tokens(self)),
                "project token",
                "PROJECT_TOKEN_NOT_FOUND",
            )
        return f"{self.workspace}/projectTokens/{token_id}"

    def client_token(self, token_id: str) -> str:
        if len(token_id) < _TOKEN_ID_LENGTH:
            token_id = resolve_id(
                token_id,
                (t.name.rsplit("/", 1)[-1] for t in _all_client_tokens(self)),
                "client token",
                "CLIENT_TOKEN_NOT_FOUND",
            )
        return f"{self.workspace}/clientTokens/{token_id}"


def api(ctx: typer.Context) -> contextlib.AbstractContextManager[Api]:
    return opened(ctx.obj, Api)


def _when(stamp: Any) -> str:
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M:%S") if stamp.seconds else ""


def _rate(limit: int, window: int) -> str:
    return f"{limit}/{format_duration(window)}"


def _bytes(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} B"


def _read_json(option: str, path: Path) -> Any:
    try:
        return exactjson.loads(path.read_bytes())
    except OSError as error:
        raise usage_error(f"{option}: cannot read {path}: {error.strerror}") from None
    except exactjson.DecodeError as error:
        raise usage_error(f"{option}: {path} is not JSON: {error}") from None


# -- integrations ---------------------------------------------------------------------------


def _show_integrations(ctx: typer.Context, found: list[integrations_pb2.Integration]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(i) for i in found])
        return
    mode = output_mode(ctx)
    columns: list[str | Column] = ["id", "type", "entity type", "state", "rate limit", "body cap"]
    rows = [
        [
            i.id,
            i.type,
            i.entity_type,
            "enabled" if i.enabled else "disabled",
            _rate(i.rate_limit, i.rate_window_seconds),
            _bytes(i.max_body_bytes),
        ]
        for i in found
    ]
    if mode == render.WIDE:
        columns += ["name", "region", "created (UTC)"]
        for row, i in zip(rows, found, strict=True):
            row += [i.display_name, i.default_region, _when(i.create_time)]
    render.table(None, columns, rows, mode=mode)


def _show_integration(ctx: typer.Context, found: integrations_pb2.Integration) -> None:
    if json_mode(ctx):
        render.emit_json(render.as_dict(found))
        return
    _show_integrations(ctx, [found])
    options: Any = ctx.obj
    render.out.print(
        f"\nPOST {options.ingest_url.rstrip('/')}/api/v1/external/data-ingestion/{found.id}"
        "  (Authorization: Bearer <project token>)",
        markup=False,
    )
    if found.HasField("mapping"):
        render.out.print("mapping:", markup=False)
        render.emit_json(render.as_dict(found).get("mapping"))


@integrations.command("create")
def integrations_create(
    ctx: typer.Context,
    integration_id: Annotated[
        str, typer.Argument(help="Its id in the URL (a-z 0-9 _ -); e.g. typeform-leads.")
    ],
    type_: Annotated[str, typer.Option("--type", help=", ".join(TYPES))],
    entity_type: Annotated[str, typer.Option("--entity-type", "-t", help="Records' type.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    region: Annotated[str, typer.Option(help="Default phone region (ISO 3166), e.g. NO.")] = "",
    mapping: Annotated[
        Path | None,
        typer.Option(help="A JSON file with the mapping (MAPPING; overrides a vendor's)."),
    ] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option(help="Largest body accepted (default and most: 1048576).")
    ] = None,
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per window (default 6000).", show_default=False)
    ] = None,
    rate_window: Annotated[
        str, typer.Option(help="The rate-limit window, e.g. 90s or 1m (default 1m).")
    ] = "",
) -> None:
    """Create an integration."""
    spec = integrations_pb2.Integration(
        display_name=name,
        type=type_.upper(),
        entity_type=entity_type,
        default_region=region,
        max_body_bytes=max_body_bytes or 0,
        rate_limit=rate_limit_option(rate_limit) if rate_limit is not None else 0,
        rate_window_seconds=whole_seconds("--rate-window", rate_window) if rate_window else 0,
    )
    if mapping is not None:
        spec.mapping.CopyFrom(exactjson.to_raw(_read_json("--mapping", mapping)))
    with api(ctx) as client:
        made = client.call(
            client.stub.CreateIntegration,
            integrations_pb2.CreateIntegrationRequest(
                parent=client.workspace, integration_id=integration_id, integration=spec
            ),
        )
    _show_integration(ctx, made.integration)


def _all_integrations(client: Api) -> list[integrations_pb2.Integration]:
    return client.every(
        client.stub.ListIntegrations,
        integrations_pb2.ListIntegrationsRequest(parent=client.workspace),
        "integrations",
    )


@integrations.command("list")
def integrations_list(ctx: typer.Context) -> None:
    """List the workspace's integrations."""
    with api(ctx) as client:
        found = _all_integrations(client)
    _show_integrations(ctx, found)


@integrations.command("show")
def integrations_show(ctx: typer.Context, integration_id: str) -> None:
    """Show an integration, its URL and its mapping."""
    with api(ctx) as client:
        got = client.call(
            client.stub.GetIntegration,
            integrations_pb2.GetIntegrationRequest(name=client.integration(integration_id)),
        )
    _show_integration(ctx, got.integration)


def _update(ctx: typer.Context, integration_id: str, paths: list[str], **values: Any) -> None:
    """Change exactly the given fields (the mask names them and no others)."""
    mapping = values.pop("mapping", None)
    spec = integrations_pb2.Integration(**values)
    if mapping is not None:
        spec.mapping.CopyFrom(mapping)
    with api(ctx) as client:
        spec.name = client.integration(integration_id)
        got = client.call(
            client.stub.UpdateIntegration,
            integrations_pb2.UpdateIntegrationRequest(
                integration=spec, update_mask=field_mask_pb2.FieldMask(paths=paths)
            ),
        )
    _show_integration(ctx, got.integration)


@integrations.command("update")
def integrations_update(
    ctx: typer.Context,
    integration_id: str,
    type_: Annotated[str | None, typer.Option("--type", help=", ".join(TYPES))] = None,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    region: Annotated[str | None, typer.Option(help="Default phone region.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="A JSON file with the new mapping.")] = None,
    no_mapping: Annotated[
        bool, typer.Option("--no-mapping", help="Drop the mapping (a vendor's ready-made one).")
    ] = False,
    max_body_bytes: Annotated[int | None, typer.Option(help="Largest body accepted.")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="Requests per window.")] = None,
    rate_window: Annotated[
        str | None, typer.Option(help="The rate-limit window, e.g. 90s or 1m.")
    ] = None,
) -> None:
    """Change an integration; what is not given stays."""
    if mapping is not None and no_mapping:
        raise usage_error("--mapping and --no-mapping contradict each other")
    values: dict[str, Any] = {}
    if type_ is not None:
        values["type"] = type_.upper()
    if name is not None:
        values["display_name"] = name
    if region is not None:
        values["default_region"] = region
    if mapping is not None:
        values["mapping"] = exactjson.to_raw(_read_json("--mapping", mapping))
    if no_mapping:
        values["mapping"] = None
    if max_body_bytes is not None:
        values["max_body_bytes"] = max_body_bytes
    if rate_limit is not None:
        values["rate_limit"] = rate_limit_option(rate_limit)
    if rate_window is not None:
        values["rate_window_seconds"] = whole_seconds("--rate-window", rate_window)
    if not values:
        raise usage_error(
            "nothing to change: pass --type, --name, --region, --mapping, --no-mapping,"
            " --max-body-bytes, --rate-limit or --rate-window"
        )
    _update(ctx, integration_id, list(values), **values)


@integrations.command("enable")
def integrations_enable(ctx: typer.Context, integration_id: str) -> None:
    """Enable an integration."""
    _update(ctx, integration_id, ["enabled"], enabled=True)


@integrations.command("disable")
def integrations_disable(ctx: typer.Context, integration_id: str) -> None:
    """Disable an integration: its URL answers 403 INTEGRATION_DISABLED."""
    _update(ctx, integration_id, ["enabled"], enabled=False)


@integrations.command("delete")
def integrations_delete(ctx: typer.Context, integration_id: str) -> None:
    """Delete an integration and its queued requests."""
    with api(ctx) as client:
        client.call(
            client.stub.DeleteIntegration,
            integrations_pb2.DeleteIntegrationRequest(name=client.integration(integration_id)),
        )
    if json_mode(ctx):
        render.emit_json({"deleted": integration_id})
    else:
        render.out.print(f"deleted integration {integration_id}", markup=False)


@integrations.command("test-mapping")
def integrations_test_mapping(
    ctx: typer.Context,
    integration_id: str,
    sample: Annotated[Path, typer.Argument(help="A JSON file: a body as the vendor sends it.")],
) -> None:
    """What the integration's mapping finds in a sample body (writes nothing)."""
    try:
        data = sample.read_bytes()
    except OSError as error:
        raise usage_error(f"cannot read {sample}: {error.strerror}") from None
    with api(ctx) as client:
        got = client.call(
            client.stub.TestIntegrationMapping,
            integrations_pb2.TestIntegrationMappingRequest(
                name=client.integration(integration_id),
                sample=httpbody_pb2.HttpBody(content_type="application/json", data=data),
            ),
        )
    found = render.as_dict(got)
    if json_mode(ctx):
        render.emit_json(found)
        return
    for problem in found.get("errors", []):
        render.out.print(f"{problem['field']}: {problem['message']}", markup=False)
    render.table(
        None,
        ["item", "values", "related", "problems"],
        [
            [
                item.get("index", 0),
                render.fields_line(item.get("values", {})),
                "; ".join(
                    f"{slug}: {render.fields_line(values)}"
                    for slug, values in item.get("related", {}).items()
                ),
                "; ".join(f"{p['field']}: {p['code']}" for p in item.get("errors", [])),
            ]
            for item in found.get("items", [])
        ],
        mode=output_mode(ctx),
    )


# -- the activity log -----------------------------------------------------------------------


_ROUTES = {"data_ingestion": "ingest", "status": "status", "ping": "ping", "form": "form"}


def _outcome(shown: dict[str, Any]) -> str:
    """What happened, in a few words: items and failures, the record, the first errors."""
    parts: list[str] = []
    result = shown.get("result") or {}
    received = shown.get("items_received", 0)
    if shown.get("route") == "data_ingestion" and received:
        failed = shown.get("items_failed", 0)
        counted = f"{received} item{'s' if received != 1 else ''}"
        parts.append(counted + (f", {failed} failed" if failed else ""))
    if shown.get("route") == "status" and "request_id" in result:
        parts.append(f"of {result['request_id']}")
    if "record" in result:
        parts.append(f"record {result['record'].get('action')} {result['record'].get('id')}")
    errors = shown.get("errors", [])
    for error in errors[:2]:
        fields = ", ".join(f"{f['field']} {f['code']}" for f in error.get("fields", [])[:2])
        if "index" in error:
            # An item's error: its bad fields name the item already.
            parts.append(fields or f"items[{error['index']}] {error.get('code')}")
        else:
            parts.append(f"{error.get('code')}" + (f": {fields}" if fields else ""))
    if len(errors) > 2:
        parts.append(f"and {len(errors) - 2} more")
    if shown.get("replay_of"):
        parts.append(f"replay of {shown['replay_of']}")
    return "; ".join(parts)


def _show_log(ctx: typer.Context, entries: list[integrations_pb2.ExternalActivityEntry]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(e) for e in entries])
        return
    mode = output_mode(ctx)
    columns: list[str | Column] = [
        "time (UTC)",
        Column("request id", id_=True),
        "route",
        "status",
        "outcome",
    ]
    rows: list[list[Any]] = [
        [
            _when(e.create_time),
            e.request_id,
            _ROUTES.get(e.route, e.route),
            f"{e.status_code} {e.status}",
            _outcome(render.as_dict(e)),
        ]
        for e in entries
    ]
    if mode == render.WIDE:
        columns += ["integration", "token", "client request id"]
        for row, e in zip(rows, entries, strict=True):
            row += [e.integration, e.token, e.client_request_id]
    render.table(None, columns, rows, mode=mode)


def _log(ctx: typer.Context, parent: str, limit: int) -> None:
    with api(ctx) as client:
        got = client.call(
            client.stub.ListExternalActivityEntries,
            integrations_pb2.ListExternalActivityEntriesRequest(parent=parent, page_size=limit),
        )
    _show_log(ctx, list(got.external_activity_entries))


@integrations.command("log")
def integrations_log(
    ctx: typer.Context,
    integration_id: str,
    limit: Annotated[int, typer.Option(help="Newest N entries.")] = 50,
) -> None:
    """Every request to the integration that named a valid token: status, items, errors."""
    with api(ctx) as client:
        parent = client.integration(integration_id)
    _log(ctx, parent, limit)


# -- project tokens ---------------------------------------------------------------------------


def _all_project_tokens(client: Api) -> list[integrations_pb2.ProjectToken]:
    return client.every(
        client.stub.ListProjectTokens,
        integrations_pb2.ListProjectTokensRequest(parent=client.workspace),
        "project_tokens",
    )


def _token_state(revoke_time: Any, expire_time: Any = None) -> str:
    if revoke_time.seconds:
        return "revoked"
    if expire_time is not None and expire_time.seconds:
        return f"expires {_when(expire_time)}"
    return "active"


def _show_project_tokens(ctx: typer.Context, found: list[integrations_pb2.ProjectToken]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(t) for t in found])
        return
    render.table(
        None,
        ["id", "name", "state", "created (UTC)"],
        [
            [
                t.name.rsplit("/", 1)[-1],
                t.display_name,
                _token_state(t.revoke_time, t.expire_time),
                _when(t.create_time),
            ]
            for t in found
        ],
        mode=output_mode(ctx),
    )


def _show_secret(ctx: typer.Context, what: str, resource: Any, secret: str) -> None:
    headline = f"{what.replace('_', ' ')} {resource.name.rsplit('/', 1)[-1]}"
    show_secret(ctx, what, resource, headline, secret, "token")


@project_tokens.command("create")
def project_tokens_create(
    ctx: typer.Context, name: Annotated[str, typer.Option(help="Display name.")] = ""
) -> None:
    """Create a project token; prints it once."""
    with api(ctx) as client:
        made = client.call(
            client.stub.CreateProjectToken,
            integrations_pb2.CreateProjectTokenRequest(
                parent=client.workspace,
                project_token=integrations_pb2.ProjectToken(display_name=name),
            ),
        )
    _show_secret(ctx, "project_token", made.project_token, made.secret)


@project_tokens.command("list")
def project_tokens_list(ctx: typer.Context) -> None:
    """List project tokens, newest first (never their secrets)."""
    with api(ctx) as client:
        found = _all_project_tokens(client)
    _show_project_tokens(ctx, found)


@project_tokens.command("revoke")
def project_tokens_revoke(ctx: typer.Context, token_id: str) -> None:
    """Revoke a project token at once."""
    with api(ctx) as client:
        got = client.call(
            client.stub.RevokeProjectToken,
            integrations_pb2.RevokeProjectTokenRequest(name=client.project_token(token_id)),
        )
    _show_project_tokens(ctx, [got.project_token])


@project_tokens.command("rotate")
def project_tokens_rotate(
    ctx: typer.Context,
    token_id: str,
    grace: Annotated[
        str,
        typer.Option(help="Keep the old token working this long, e.g. 10m (default: not at all)."),
    ] = "",
) -> None:
    """Replace a project token; prints the new one once."""
    request = integrations_pb2.RotateProjectTokenRequest()
    if grace:
        request.grace_period.CopyFrom(duration("--grace", grace))
    with api(ctx) as client:
        request.name = client.project_token(token_id)
        got = client.call(client.stub.RotateProjectToken, request)
    _show_secret(ctx, "project_token", got.project_token, got.secret)


@project_tokens.command("log")
def project_tokens_log(
    ctx: typer.Context,
    token_id: str,
    limit: Annotated[int, typer.Option(help="Newest N entries.")] = 50,
) -> None:
    """Every request made with the token: data ingestion, status lookups, pings."""
    with api(ctx) as client:
        parent = client.project_token(token_id)
    _log(ctx, parent, limit)


# -- client tokens ----------------------------------------------------------------------------


def _all_client_tokens(client: Api) -> list[integrations_pb2.ClientToken]:
    return client.every(
        client.stub.ListClientTokens,
        integrations_pb2.ListClientTokensRequest(parent=client.workspace),
        "client_tokens",
    )


def _show_client_tokens(ctx: typer.Context, found: list[integrations_pb2.ClientToken]) -> None:
    if json_mode(ctx):
        render.emit_json([render.as_dict(t) for t in found])
        return
    render.table(
        None,
        ["id", "entity type", "origins", "rate limit", "state"],
        [
            [
                t.name.rsplit("/", 1)[-1],
                t.entity_type,
                ", ".join(t.allowed_origins),
                _rate(t.rate_limit, t.rate_window_seconds),
                _token_state(t.revoke_time),
            ]
            for t in found
        ],
        mode=output_mode(ctx),
    )


@client_tokens.command("create")
def client_tokens_create(
    ctx: typer.Context,
    entity_type: Annotated[
        str, typer.Option("--entity-type", "-t", help="Type forms create (needs a unique email).")
    ],
    origin: Annotated[
        list[str],
        typer.Option(
            help="An origin whose pages use the form, e.g. https://www.example.com (or *)."
        ),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    region: Annotated[str, typer.Option(help="Default phone region (ISO 3166).")] = "",
    rate_limit: Annotated[
        int | None, typer.Option(help="Forms per window (default 60).", show_default=False)
    ] = None,
    rate_window: Annotated[str, typer.Option(help="The window, e.g. 1m (default 1m).")] = "",
) -> None:
    """Create a client token; prints it once."""
    with api(ctx) as client:
        made = client.call(
            client.stub.CreateClientToken,
            integrations_pb2.CreateClientTokenRequest(
                parent=client.workspace,
                client_token=integrations_pb2.ClientToken(
                    entity_type=entity_type,
                    allowed_origins=origin,
                    display_name=name,
                    default_region=region,
                    rate_limit=rate_limit_option(rate_limit) if rate_limit is not None else 0,
                    rate_window_seconds=(
                        whole_seconds("--rate-window", rate_window) if rate_window else 0
                    ),
                ),
            ),
        )
    _show_secret(ctx, "client_token", made.client_token, made.secret)


@client_tokens.command("list")
def client_tokens_list(ctx: typer.Context) -> None:
    """List client tokens, newest first (never their secrets)."""
    with api(ctx) as client:
        found = _all_client_tokens(client)
    _show_client_tokens(ctx, found)


@client_tokens.command("update")
def client_tokens_update(
    ctx: typer.Context,
    token_id: str,
    origin: Annotated[
        list[str] | None, typer.Option(help="The allowed origins (all of them; repeat).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="Forms per window.")] = None,
    rate_window: Annotated[str | None, typer.Option(help="The window, e.g. 1m.")] = None,
) -> None:
    """Change a client token's origins, name or rate limit; what is not given stays."""
    values: dict[str, Any] = {}
    if origin:
        values["allowed_origins"] = origin
    if name is not None:
        values["display_name"] = name
    if rate_limit is not None:
        values["rate_limit"] = rate_limit_option(rate_limit)
    if rate_window is not None:
        values["rate_window_seconds"] = whole_seconds("--rate-window", rate_window)
    if not values:
        raise usage_error("nothing to change: pass --origin, --name, --rate-limit or --rate-window")
    with api(ctx) as client:
        got = client.call(
            client.stub.UpdateClientToken,
            integrations_pb2.UpdateClientTokenRequest(
                client_token=integrations_pb2.ClientToken(
                    name=client.client_token(token_id), **values
                ),
                update_mask=field_mask_pb2.FieldMask(paths=list(values)),
            ),
        )
    _show_client_tokens(ctx, [got.client_token])


@client_tokens.command("revoke")
def client_tokens_revoke(ctx: typer.Context, token_id: str) -> None:
    """Revoke a client token at once."""
    with api(ctx) as client:
        got = client.call(
            client.stub.RevokeClientToken,
            integrations_pb2.RevokeClientTokenRequest(name=client.client_token(token_id)),
        )
    _show_client_tokens(ctx, [got.client_token])


@client_tokens.command("log")
def client_tokens_log(
    ctx: typer.Context,
    token_id: str,
    limit: Annotated[int, typer.Option(help="Newest N entries.")] = 50,
) -> None:
    """Every form submitted with the token, whatever its outcome."""
    with api(ctx) as client:
        parent = client.client_token(token_id)
    _log(ctx, parent, limit)
