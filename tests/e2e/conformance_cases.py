"""The conformance suite's cases: one HTTP request each, sent alike through both edges.

A case's path, headers and body are templates filled from one edge's own workspace
(`{token}`, `{key}`, …) and `{u}`, a value unique to the edge and case, so that what one
edge creates never changes what the other answers. `exception` documents a case whose
answers may differ, and why (the README lists the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field

KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes | None = None
    # Why this case may answer differently through Envoy ("" = identical).
    exception: str = ""
    # Headers both edges' answers must have (so "identical" is not "both missing").
    expect: tuple[str, ...] = ()
    # Sent without Content-Length (chunked), so only reading it tells its size.
    chunked: bool = False
    # Its body announced but never sent whole: the edge's body deadline answers.
    stalled: bool = False
    # Sent with `Expect: 100-continue`, as curl sends a large body (an edge may refuse a
    # body it will not read before it was sent, and close).
    raw: bool = False


JSON = {"content-type": "application/json"}


def _stream(**extra: str) -> dict[str, str]:
    return {"authorization": "Bearer {key}", **JSON, **extra}


def _project(**extra: str) -> dict[str, str]:
    return {"authorization": "Bearer {project}", **JSON, **extra}


def _push(**extra: str) -> dict[str, str]:
    return {"authorization": "Bearer {api_key}", **JSON, **extra}


def _admin(**extra: str) -> dict[str, str]:
    return {"authorization": "Bearer {admin}", **extra}


def _form(**extra: str) -> dict[str, str]:
    return {"x-client-token": "{client}", "origin": "https://www.example.com", **extra}


# Past every forwarded header's cap (inlet_gateway.edge_headers), and past gRPC's
# metadata limits had it crossed whole.
LONG = "v" * 60_000
# A header block past 64 KiB.
PADDING = {"x-padding": "p" * 70_000}

CASES: tuple[Case, ...] = (
    # --- endpoint push -----------------------------------------------------------------
    Case(
        "push: created",
        "POST",
        "/api/v1/ingest/{token}",
        JSON,
        '{"fields": {"email": "{u}@acme.no", "name": "Ada", "phone": "+47 400 00 000"}}',
    ),
    Case(
        "push: updated (matched on email)",
        "POST",
        "/api/v1/ingest/{token}",
        JSON,
        '{"fields": {"email": "{u-1}@acme.no", "name": "Ada Lovelace"}}',
    ),
    Case(
        "push: unknown field",
        "POST",
        "/api/v1/ingest/{token}",
        JSON,
        '{"fields": {"email": "{u}@acme.no", "nope": 1}}',
    ),
    Case("push: unknown top-level key", "POST", "/api/v1/ingest/{token}", JSON, '{"x": {}}'),
    Case("push: malformed JSON", "POST", "/api/v1/ingest/{token}", JSON, '{"fields": '),
    Case(
        "push: Content-Type not JSON",
        "POST",
        "/api/v1/ingest/{token}",
        {"content-type": "text/xml"},
        '{"fields": {"email": "x@example.com"}}',
    ),
    Case("push: not an object", "POST", "/api/v1/ingest/{token}", JSON, "[1, 2]"),
    Case("push: empty body", "POST", "/api/v1/ingest/{token}", JSON, ""),
    Case(
        "push: invalid e-mail", "POST", "/api/v1/ingest/{token}", JSON, '{"fields": {"email": "x"}}'
    ),
    Case(
        "push: NUL in a value",
        "POST",
        "/api/v1/ingest/{token}",
        JSON,
        '{"fields": {"name": "a\\u0000"}}',
    ),
    Case("push: unknown token", "POST", "/api/v1/ingest/nope{u}", JSON, '{"fields": {}}'),
    Case("push: over 100 KB", "POST", "/api/v1/ingest/{token}", JSON, b"x" * (100 * KIB + 1)),
    # Past Envoy's 4 MiB connection buffer: emptied as it streams by, never buffered.
    Case("push: over 4 MiB", "POST", "/api/v1/ingest/{token}", JSON, b"x" * (5 * MIB), raw=True),
    Case(
        "push: Idempotency-Key first",
        "POST",
        "/api/v1/ingest/{token}",
        {**JSON, "idempotency-key": "k-{u}"},
        '{"fields": {"email": "{u}-i@acme.no"}}',
    ),
    Case(
        "push: Idempotency-Key replayed",
        "POST",
        "/api/v1/ingest/{token}",
        {**JSON, "idempotency-key": "k-{u-1}"},
        '{"fields": {"email": "{u-1}-i@acme.no"}}',
        expect=("idempotency-replayed",),
    ),
    Case(
        "push: Idempotency-Key reused with another body",
        "POST",
        "/api/v1/ingest/{token}",
        {**JSON, "idempotency-key": "k-{u-2}"},
        '{"fields": {"email": "other-{u}@acme.no"}}',
    ),
    Case(
        "push: client X-Request-Id echoed",
        "POST",
        "/api/v1/ingest/{token}",
        {**JSON, "x-request-id": "client-42"},
        '{"fields": {"email": "{u}@acme.no"}}',
        expect=("x-client-request-id",),
    ),
    Case(
        "push: unknown query parameter",
        "POST",
        "/api/v1/ingest/{token}?foo=1",
        JSON,
        '{"fields": {"email": "{u}@acme.no"}}',
    ),
    Case("push: wrong method", "GET", "/api/v1/ingest/{token}", expect=("allow",)),
    Case(
        "push: Idempotency-Key of 60,000 characters",
        "POST",
        "/api/v1/ingest/{token}",
        {**JSON, "idempotency-key": LONG},
        '{"fields": {"email": "{u}@acme.no"}}',
    ),
    Case(
        "push: a header no service reads, of 20,000 characters",
        "POST",
        "/api/v1/ingest/{token}",
        {**JSON, "x-note": "n" * 20_000},
        '{"fields": {"email": "{u}@acme.no"}}',
    ),
    Case(
        "push: header block over 64 KiB",
        "POST",
        "/api/v1/ingest/{token}",
        {**JSON, **PADDING},
        '{"fields": {"email": "{u}@acme.no"}}',
    ),
    Case(
        "push: body not received in time",
        "POST",
        "/api/v1/ingest/{token}",
        JSON,
        '{"fields": ',
        stalled=True,
    ),
    # --- stream ingest -----------------------------------------------------------------
    Case(
        "stream: one item",
        "POST",
        "/api/ingest",
        _stream(),
        '{"region": "{u}", "revenue": 1.50, "target": 12345678901234567890}',
    ),
    Case(
        "stream: array",
        "POST",
        "/api/ingest",
        _stream(),
        '[{"region": "{u}-a"}, {"region": "{u}-b", "revenue": 2}]',
    ),
    Case("stream: no key", "POST", "/api/ingest", JSON, '{"email": "a@b.no"}'),
    Case(
        "stream: unknown key",
        "POST",
        "/api/ingest",
        {**JSON, "authorization": "Bearer ik_live_nope"},
        "{}",
    ),
    Case("stream: malformed JSON", "POST", "/api/ingest", _stream(), "{"),
    Case(
        "stream: Content-Type not JSON",
        "POST",
        "/api/ingest",
        {**_stream(), "content-type": "text/plain"},
        '[{"region": "North"}]',
    ),
    Case(
        "stream: no Content-Type",
        "POST",
        "/api/ingest",
        {"authorization": "Bearer {key}"},
        '[{"region": "North"}]',
    ),
    Case("stream: unknown field", "POST", "/api/ingest", _stream(), '{"nope": 1}'),
    Case("stream: over 1 MB", "POST", "/api/ingest", _stream(), b"[" + b" " * MIB + b"]"),
    Case(
        "stream: over 1 MB, chunked",
        "POST",
        "/api/ingest",
        _stream(),
        b"[" + b" " * MIB + b"]",
        chunked=True,
    ),
    Case(
        "stream: Idempotency-Key first",
        "POST",
        "/api/ingest",
        _stream(**{"idempotency-key": "s-{u}"}),
        '{"region": "{u}"}',
    ),
    Case(
        "stream: Idempotency-Key replayed",
        "POST",
        "/api/ingest",
        _stream(**{"idempotency-key": "s-{u-1}"}),
        '{"region": "{u-1}"}',
        expect=("idempotency-replayed",),
    ),
    Case(
        "stream: within its rate limit",
        "POST",
        "/api/ingest",
        {**_stream(), "authorization": "Bearer {limited_key}"},
        '{"region": "{u}"}',
    ),
    Case(
        "stream: over its rate limit (429, Retry-After, RateLimit-*)",
        "POST",
        "/api/ingest",
        {**_stream(), "authorization": "Bearer {limited_key}"},
        '{"region": "{u}"}',
        expect=("retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"),
    ),
    Case("stream: other stream", "POST", "/api/ingest?stream=nope", _stream(), "{}"),
    Case("stream: status of an unknown request", "GET", "/api/ingest/requests/req_nope", _stream()),
    Case("stream: status without a key", "GET", "/api/ingest/requests/req_nope"),
    Case("stream: wrong method", "PUT", "/api/ingest", _stream(), "{}"),
    Case(
        "stream: X-Item-Key of 10,000 characters",
        "POST",
        "/api/ingest",
        _stream(**{"x-item-key": "r" * 10_000}),
        '{"region": "{u}"}',
    ),
    Case(
        "stream: X-Stream of 10,000 characters",
        "POST",
        "/api/ingest",
        _stream(**{"x-stream": "s" * 10_000}),
        '{"region": "{u}"}',
    ),
    Case(
        "stream: Authorization of 60,000 characters",
        "POST",
        "/api/ingest",
        {**JSON, "authorization": "Bearer ik_live_" + LONG},
        '{"region": "{u}"}',
    ),
    Case(
        "stream: Idempotency-Key of 60,000 characters",
        "POST",
        "/api/ingest",
        _stream(**{"idempotency-key": LONG}),
        '{"region": "{u}"}',
    ),
    Case(
        "stream: User-Agent of 20,000 characters (cut to 512, accepted)",
        "POST",
        "/api/ingest",
        _stream(**{"user-agent": "u" * 20_000}),
        '{"region": "{u}"}',
    ),
    Case(
        "stream: header block over 64 KiB",
        "POST",
        "/api/ingest",
        _stream(**PADDING),
        '{"region": "{u}"}',
    ),
    Case(
        "stream: body not received in time",
        "POST",
        "/api/ingest",
        _stream(),
        '[{"region": ',
        stalled=True,
    ),
    Case("stream: HEAD of a status", "HEAD", "/api/ingest/requests/req_nope", _stream()),
    # --- the live feed (its events: test_conformance.py) ---------------------------------
    Case("feed: no key", "GET", "/api/streams/{stream}/feed"),
    Case("feed: an ingest key", "GET", "/api/streams/{stream}/feed", _stream()),
    Case(
        "feed: Last-Event-ID not a position",
        "GET",
        "/api/streams/{stream}/feed",
        {"authorization": "Bearer {read_key}", "last-event-id": "x"},
    ),
    Case(
        "feed: Last-Event-ID of 60,000 characters",
        "GET",
        "/api/streams/{stream}/feed",
        {"authorization": "Bearer {read_key}", "last-event-id": "9" * 60_000},
    ),
    Case(
        "feed: a position past the head",
        "GET",
        "/api/streams/{stream}/feed?after_position=99999",
        {"authorization": "Bearer {read_key}"},
    ),
    Case(
        "feed: an unknown query parameter",
        "GET",
        "/api/streams/{stream}/feed?nope=1",
        {"authorization": "Bearer {read_key}"},
    ),
    # --- integration ingest ------------------------------------------------------------
    Case(
        "external: accepted",
        "POST",
        "/api/v1/external/data-ingestion/{integration}",
        _project(),
        '{"email": "{u}@acme.no", "name": "Ext"}',
        expect=("location",),
    ),
    Case("external: no token", "POST", "/api/v1/external/data-ingestion/{integration}", JSON, "{}"),
    Case(
        "external: unknown integration",
        "POST",
        "/api/v1/external/data-ingestion/nope",
        _project(),
        "{}",
    ),
    Case(
        "external: malformed JSON",
        "POST",
        "/api/v1/external/data-ingestion/{integration}",
        _project(),
        "{",
    ),
    Case(
        "external: over 1 MiB",
        "POST",
        "/api/v1/external/data-ingestion/{integration}",
        _project(),
        b"[" + b" " * MIB + b"]",
    ),
    Case(
        "external: status of an unknown request",
        "GET",
        "/api/v1/external/data-ingestion/requests/req_nope",
        _project(),
    ),
    Case("external: ping", "GET", "/api/v1/external/ping", _project()),
    Case("external: ping without a token", "GET", "/api/v1/external/ping"),
    Case("external: unknown route", "GET", "/api/v1/external/nope"),
    Case("external: wrong method", "DELETE", "/api/v1/external/ping", _project()),
    Case(
        "form: JSON",
        "POST",
        "/api/v1/external/form",
        _form(**JSON),
        '{"email": "{u}-f@acme.no", "name": "Form"}',
    ),
    Case(
        "form: urlencoded",
        "POST",
        "/api/v1/external/form",
        _form(**{"content-type": "application/x-www-form-urlencoded"}),
        "email={u}-g%40acme.no&name=Form",
    ),
    Case("form: bad e-mail", "POST", "/api/v1/external/form", _form(**JSON), '{"email": "x"}'),
    Case(
        "form: origin not allowed",
        "POST",
        "/api/v1/external/form",
        {**_form(**JSON), "origin": "https://evil.example"},
        "{}",
    ),
    Case(
        "form: over 64 KiB", "POST", "/api/v1/external/form", _form(**JSON), b"x" * (64 * KIB + 1)
    ),
    Case(
        "form: preflight",
        "OPTIONS",
        "/api/v1/external/form",
        {
            "origin": "https://www.example.com",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, x-client-token",
        },
        expect=("access-control-allow-origin", "access-control-allow-methods"),
    ),
    Case(
        "form: x-client-token of 60,000 characters",
        "POST",
        "/api/v1/external/form",
        {**_form(**JSON), "x-client-token": "ct_" + LONG},
        '{"email": "{u}-t@acme.no"}',
    ),
    Case(
        "form: Origin of 60,000 characters",
        "POST",
        "/api/v1/external/form",
        {**_form(**JSON), "origin": "https://" + LONG},
        '{"email": "{u}-o@acme.no"}',
    ),
    Case(
        "external: header block over 64 KiB",
        "POST",
        "/api/v1/external/data-ingestion/{integration}",
        _project(**PADDING),
        "{}",
    ),
    Case(
        "external: body not received in time",
        "POST",
        "/api/v1/external/data-ingestion/{integration}",
        _project(),
        '{"email": ',
        stalled=True,
    ),
    # --- push transfer -----------------------------------------------------------------
    Case(
        "transfer: accepted",
        "POST",
        "/api/push/transfer",
        _push(),
        '{"endgrate_type": "crm-contact", "session_id": "{session}", "transfer_data":'
        ' [{"data": {"first_name": "Bob", "last_name": "{u}"}, "internal_id": "C1"}]}',
    ),
    Case("transfer: no key", "POST", "/api/push/transfer", JSON, "{}"),
    Case(
        "transfer: unknown session",
        "POST",
        "/api/push/transfer",
        _push(),
        '{"endgrate_type": "crm-contact", "session_id": "nope", "transfer_data": [{"data": {}}]}',
    ),
    Case("transfer: malformed JSON", "POST", "/api/push/transfer", _push(), "{"),
    Case(
        "transfer: Content-Type not JSON",
        "POST",
        "/api/push/transfer",
        {**_push(), "content-type": "application/x-www-form-urlencoded"},
        "a=b",
    ),
    Case(
        "transfer: data of an unknown transfer",
        "GET",
        "/api/push/data?transfer_id=0123456789abcdef01234567",
        _push(),
    ),
    Case("transfer: data without transfer_id", "GET", "/api/push/data", _push()),
    Case(
        "transfer: Idempotency-Key of 60,000 characters",
        "POST",
        "/api/push/transfer",
        _push(**{"idempotency-key": LONG}),
        '{"endgrate_type": "crm-contact", "session_id": "{session}", "transfer_data":'
        ' [{"data": {"first_name": "Long", "last_name": "{u}"}}]}',
    ),
    # --- admin and webhook admin APIs ----------------------------------------------------
    Case("admin: list entity types", "GET", "/admin/v1/{workspace}/entityTypes", _admin()),
    Case("admin: get an endpoint", "GET", "/admin/v1/{endpoint}", _admin()),
    Case("admin: no token", "GET", "/admin/v1/{workspace}/entityTypes"),
    Case("admin: unknown entity type", "GET", "/admin/v1/{workspace}/entityTypes/nope", _admin()),
    Case(
        "admin: records (RawJson values)",
        "GET",
        "/admin/v1/{workspace}/entityTypes/contact/records",
        _admin(),
    ),
    Case("admin: an endpoint's example", "GET", "/admin/v1/{endpoint}/example", _admin()),
    Case(
        "admin: create with an unknown field",
        "POST",
        "/admin/v1/{workspace}/entityTypes",
        _admin(**JSON),
        '{"slug": "t{u}", "nope": 1}',
    ),
    Case(
        "admin: malformed JSON",
        "POST",
        "/admin/v1/{workspace}/entityTypes",
        _admin(**JSON),
        "{",
    ),
    Case(
        "admin: a mapping as a JSON value, numbers exact (RawJson in and out)",
        "POST",
        "/admin/v1/{workspace}/integrations?integration_id=m{u}",
        _admin(**JSON),
        '{"type": "MAPPING", "entity_type": "contact", "mapping": {"fields": {"email":'
        ' "/e", "name": {"pointer": "/n", "default": 0.10}}}}',
    ),
    Case(
        "admin: PATCH without update_mask changes only what is sent",
        "PATCH",
        "/admin/v1/{endpoint}",
        _admin(**JSON),
        '{"display_name": "Renamed"}',
    ),
    Case(
        "admin: an unknown query parameter",
        "GET",
        "/admin/v1/{workspace}/entityTypes?nope=1",
        _admin(),
    ),
    Case(
        "admin: a query parameter of the wrong type",
        "GET",
        "/admin/v1/{workspace}/entityTypes?page_size=many",
        _admin(),
    ),
    Case(
        "stream: an unknown query parameter",
        "POST",
        "/api/ingest?debug=1",
        _stream(),
        '{"region": "{u}"}',
    ),
    Case(
        "admin: wrong method",
        "PUT",
        "/admin/v1/{workspace}/entityTypes",
        _admin(**JSON),
        "{}",
    ),
    Case(
        "admin: a query parameter where the body is every field",
        "POST",
        "/admin/v1/{workspace}/adminTokens?display_name=x",
        _admin(**JSON),
        '{"display_name": "t"}',
    ),
    Case("webhooks: list", "GET", "/admin/v1/{workspace}/webhookEndpoints", _admin()),
    Case(
        "webhooks: unknown endpoint", "GET", "/admin/v1/{workspace}/webhookEndpoints/nope", _admin()
    ),
    Case("streams: list", "GET", "/admin/v1/{workspace}/streams", _admin()),
    # --- the edge itself ---------------------------------------------------------------
    Case("health", "GET", "/healthz"),
    Case("health: wrong method", "POST", "/healthz", JSON, "{}"),
    Case("health: header block over 64 KiB", "GET", "/healthz", PADDING),
    Case(
        "health: many small headers over 64 KiB",
        "GET",
        "/healthz",
        {f"x-pad-{i}": "p" * 100 for i in range(700)},
    ),
    Case(
        "admin: header block over 64 KiB", "GET", "/admin/v1/{workspace}/streams", _admin(**PADDING)
    ),
    Case(
        "admin: body not received in time",
        "POST",
        "/admin/v1/{workspace}/entityTypes",
        _admin(**JSON),
        '{"slug": ',
        stalled=True,
    ),
    Case("unknown route", "GET", "/nope/{u}"),
    Case("unknown route (POST)", "POST", "/api/v2/nope", JSON, "{}"),
    # Last: through the gateway it counts against the key's rate window, not through Envoy.
    Case(
        "stream: over 4 MiB, chunked",
        "POST",
        "/api/ingest",
        _stream(),
        b"[" + b" " * (5 * MIB) + b"]",
        chunked=True,
        exception="a chunked body is measured by buffering it; past Envoy's 4 MiB buffer"
        " Envoy refuses it itself (413 in the envelope, its own detail, not logged)",
    ),
)
