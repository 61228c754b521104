"""What `make run` prints once the stack is up: addresses, a working curl per dialect, and
the exports the `inlet` CLI reads."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inlet_devstack.reuse import INTEGRATION
from inlet_devstack.reuse_external import FORM_ORIGIN
from inlet_devstack.reuse_ingest import STREAM
from inlet_devstack.saved import DemoCredentials

CONTACT = {"fields": {"name": "Ola Nordmann", "email": "ola@acme.no", "phone": "+4799887766"}}
# The seed's own examples (shared/seeds/inspire-data-ingestion-api.txt).
SALE = {
    "region": "North",
    "revenue": 142000,
    "target": 130000,
    "updated_at": "2026-04-06T10:30:00Z",
}
SALES = [
    {"region": "North", "revenue": 142000, "target": 130000},
    {"region": "South", "revenue": 98000, "target": 110000},
    {"region": "East", "revenue": 156000, "target": 140000},
]
# Raw JSON for the GENERIC demo integration: its keys are the contact type's field slugs.
CONTACTS = [
    {"name": "Astrid Lie", "email": "astrid@acme.no", "phone": "+4741122334"},
    {"name": "Jonas Berg", "email": "jonas@acme.no"},
]
FORM = {
    "name": "Ingrid Berg",
    "email": "ingrid@acme.no",
    "phone": "+4790011223",
    "message": "Please call me about a demo.",
}


def seed_transfer(session_id: str) -> dict[str, Any]:
    """The push-transfer seed's curl body (shared/seeds/endgrate-push-data.txt), its
    comments removed, for the demo session."""
    return {
        "endgrate_type": "crm-contact",
        "session_id": session_id,
        "transfer_data": [
            {
                "data": {"first_name": "Bob", "last_name": "Smith"},
                "associations": {
                    "crm-company": [
                        {"data": {"name": "Acme Corporation"}, "internal_id": "Company1"},
                        {"data": {"name": "Bacme Corporation"}, "internal_id": "Company2"},
                    ]
                },
                "internal_id": "Contact1",
            },
            {
                "data": {"first_name": "David", "last_name": "Jones"},
                "associations": {
                    "crm-company": [{"data": {"name": "C Inc."}, "internal_id": "Company3"}]
                },
                "internal_id": "Contact2",
            },
        ],
    }


@dataclass(frozen=True)
class Addresses:
    gateway_url: str
    matcher: str
    store: str
    notifier: str
    # Envoy beside the gateway (`make run-envoy`): the curls then go through it.
    envoy_url: str | None = None
    # Each service's Prometheus /metrics URL, by service name.
    metrics: Mapping[str, str] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        """Where the printed curls go: Envoy when it runs, else the gateway."""
        return self.envoy_url or self.gateway_url


def _body(value: Any) -> str:
    return shlex.quote(json.dumps(value))


def curl_get(url: str, *headers: str) -> str:
    """A one-line curl that GETs `url`, quoted for any POSIX shell."""
    parts = ["curl -sS", shlex.quote(url)]
    return " ".join([*parts, *(f"-H {shlex.quote(h)}" for h in headers)])


def curl_post(url: str, body: Any, *headers: str) -> str:
    """A one-line curl that POSTs `body` as JSON, quoted for any POSIX shell."""
    parts = ["curl -sS -X POST", shlex.quote(url)]
    parts += [f"-H {shlex.quote(h)}" for h in (*headers, "Content-Type: application/json")]
    return " ".join([*parts, "-d", _body(body)])


def cli_environment(at: Addresses, demo: DemoCredentials, workspace_slug: str) -> dict[str, str]:
    """Every variable the `inlet` CLI reads, pointing at this stack and its demo."""
    return {
        "INLET_ADMIN_URL": at.store,
        "INLET_NOTIFIER_URL": at.notifier,
        "INLET_INGEST_URL": at.gateway_url,
        "INLET_WORKSPACE": workspace_slug,
        "INLET_ADMIN_TOKEN": demo.admin_token,
        "INLET_ENDPOINT_URL": endpoint_url(at, demo, "contact"),
    }


def endpoint_url(at: Addresses, demo: DemoCredentials, slug: str) -> str:
    return f"{at.public_url}/api/v1/ingest/{demo.endpoints[slug].secret}"


def _metrics_line(at: Addresses) -> str:
    if not at.metrics:
        return ""
    urls = ", ".join(f"{name} {url}" for name, url in at.metrics.items())
    return f"  metrics   {urls}\n"


def render(
    at: Addresses,
    demo: DemoCredentials,
    *,
    workspace_slug: str,
    log_dir: Path,
    saved_at: Path,
    changes: list[str],
    allow_private: bool,
) -> str:
    assert demo.ingest_key is not None
    assert demo.api_key is not None
    assert demo.push_session is not None
    assert demo.project_token is not None
    assert demo.client_token is not None
    assert demo.read_key is not None
    reader = f"Authorization: Bearer {demo.read_key.secret}"
    bearer = f"Authorization: Bearer {demo.ingest_key.secret}"
    push_bearer = f"Authorization: Bearer {demo.api_key.secret}"
    session_id = demo.push_session.name.rsplit("/", 1)[1]
    transfer = f"{at.public_url}/api/push/transfer"
    data = (
        f'curl -sS "{at.public_url}/api/push/data?transfer_id=$TRANSFER_ID"'
        f" -H {shlex.quote(push_bearer)}"
    )
    ingest = f"{at.public_url}/api/ingest"
    server = f"Authorization: Bearer {demo.project_token.secret}"
    external = f"{at.public_url}/api/v1/external"
    webhooks = (
        "loopback and private targets allowed (INLET_WEBHOOK_ALLOW_PRIVATE=true: local "
        "receivers work; production refuses them)"
        if allow_private
        else "loopback and private targets refused (INLET_WEBHOOK_ALLOW_PRIVATE=false)"
    )
    exports = "\n".join(
        f"  export {name}={shlex.quote(value)}"
        for name, value in cli_environment(at, demo, workspace_slug).items()
    )
    status = f"curl -sS {ingest}/requests/$REQUEST_ID -H {shlex.quote(bearer)}"
    envoy_line = (
        f"  envoy     {at.envoy_url} (the same API through Envoy; the curls use it)\n"
        if at.envoy_url
        else ""
    )
    # The URL is left unquoted so that the shell expands $REQUEST_ID.
    job = f"curl -sS {external}/data-ingestion/requests/$REQUEST_ID -H {shlex.quote(server)}"
    form = curl_post(
        f"{external}/form",
        FORM,
        f"x-client-token: {demo.client_token.secret}",
        f"Origin: {FORM_ORIGIN}",
    )
    return (
        "\ninlet is running.\n"
        f"  gateway   {at.gateway_url}\n"
        f"  console   {at.gateway_url}/console/ (workspace {workspace_slug}, admin token "
        "INLET_ADMIN_TOKEN below)\n"
        f"  api docs  {at.gateway_url}/docs (OpenAPI 3.1: {at.gateway_url}/openapi.json)\n"
        f"{envoy_line}"
        f"  matcher   {at.matcher} (gRPC IngestService, ExternalIngestService)\n"
        f"  store     {at.store} (gRPC StoreService, AdminService, StreamAdminService,"
        " IntegrationAdminService, PushAdminService, StreamFeedService)\n"
        f"  notifier  {at.notifier} (gRPC NotifierService, WebhookService)\n"
        f"{_metrics_line(at)}"
        f"  logs      {log_dir}/\n"
        f"  webhooks  {webhooks}\n"
        f"  demo      workspace {workspace_slug}: contact, company, deal, sales; "
        f"stream sales; integration {INTEGRATION}; push session {session_id}\n"
        f"  secrets   {saved_at} (0600): {'; '.join(changes) or 'reused'}\n\n"
        "Endpoint push (the URL is the credential):\n\n"
        f"  {curl_post(endpoint_url(at, demo, 'contact'), CONTACT)}\n\n"
        f"  deal endpoint: {endpoint_url(at, demo, 'deal')}\n\n"
        "Stream ingest (stream sales; the ingest key is the bearer token), one item:\n\n"
        f"  {curl_post(ingest, SALE, bearer)}\n\n"
        "an array, items keyed by region:\n\n"
        f"  {curl_post(ingest, SALES, bearer, 'X-Item-Key: region')}\n\n"
        "and a request's status (REQUEST_ID: the data.request_id of an answer):\n\n"
        f"  {status}\n\n"
        f"Integration ingest (integration {INTEGRATION}, raw JSON into contact; the project"
        " token is the bearer token):\n\n"
        f"  {curl_post(f'{external}/data-ingestion/{INTEGRATION}', CONTACTS, server)}\n\n"
        "its status (REQUEST_ID: the X-Request-Id of the 202, also in its message):\n\n"
        f"  {job}\n\n"
        "a ping:\n\n"
        f"  {curl_get(f'{external}/ping', server)}\n\n"
        f"and the contact form, as a page on {FORM_ORIGIN} sends it (the client token is"
        " public):\n\n"
        f"  {form}\n\n"
        f"Push transfer (session {session_id}: crm-contact, crm-company; the API key is the"
        " bearer token), the seed's transfer:\n\n"
        f"  {curl_post(transfer, seed_transfer(session_id), push_bearer)}\n\n"
        "and its returned data (TRANSFER_ID: the transfer_id of the answer):\n\n"
        f"  {data}\n\n"
        "Live feed of stream sales (the read key is the bearer token; it cannot ingest): run"
        " this in another terminal, then push to the stream — each item arrives as it is"
        " processed:\n\n"
        f"  curl -sS -N {at.public_url}/api/streams/{STREAM}/feed -H {shlex.quote(reader)}\n\n"
        "and the stream's current items, by item key:\n\n"
        f"  {curl_get(f'{at.public_url}/api/streams/{STREAM}/items', reader)}\n\n"
        "The inlet CLI (.venv/bin/inlet) reads:\n\n"
        f"{exports}\n\n"
        "  .venv/bin/inlet endpoints list\n\n"
        "Ctrl-C stops everything.\n"
    )
