"""The console: routes under /console/, sign-in and CSRF checks, security headers, error pages."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

import grpc

from inlet_gateway import limits
from inlet_gateway.console import (
    pages_auth,
    pages_endpoints,
    pages_integrations,
    pages_push,
    pages_records,
    pages_streams,
    pages_webhooks,
    pages_workspace,
)
from inlet_gateway.console.session import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    Sessions,
    clear_cookie,
    parse_cookies,
    same_token,
)
from inlet_gateway.console.upstream import ApiError, Upstream
from inlet_gateway.console.web import PageError, Reply, Request, Route, environment, redirect

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]

PREFIX = "/console"
FORM_LIMIT = 64 * 1024
CSRF_FIELD = "csrf_token"
CSRF_HEADER = b"x-csrf-token"

# Only what the console serves itself: no inline script or style, no other origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
NO_STORE = (b"cache-control", b"no-store")
# Static assets hold nothing of a workspace; they may be cached for an hour.
STATIC_CACHE = (b"cache-control", b"public, max-age=3600")


@dataclass(frozen=True)
class NavEntry:
    key: str
    label: str
    href: str


NAV = (
    NavEntry("overview", "Overview", "/console/"),
    NavEntry("entity-types", "Entity types", "/console/entity-types"),
    NavEntry("endpoints", "Endpoints", "/console/endpoints"),
    NavEntry("streams", "Streams", "/console/streams"),
    NavEntry("records", "Records", "/console/records"),
    NavEntry("webhooks", "Webhooks", "/console/webhooks"),
    NavEntry("integrations", "Integrations", "/console/integrations"),
    NavEntry("push-sessions", "Push sessions", "/console/push-sessions"),
)


class Console:
    """Answers every request under /console/ (see handle)."""

    def __init__(
        self, upstream: Upstream, sessions: Sessions, *, secure_cookie: bool | None = None
    ) -> None:
        self.upstream = upstream
        self.sessions = sessions
        # None: Secure when the request came over TLS; True: always (behind a TLS proxy).
        self.secure_cookie = secure_cookie
        self.templates = environment()
        self.routes: list[Route] = [
            *pages_auth.ROUTES,
            *pages_workspace.ROUTES,
            *pages_endpoints.ROUTES,
            *pages_streams.ROUTES,
            *pages_integrations.ROUTES,
            *pages_push.ROUTES,
            *pages_records.ROUTES,
            *pages_webhooks.ROUTES,
        ]
        self._static: dict[str, bytes] = {}

    # --- rendering, for the pages --------------------------------------------------------

    def page(self, request: Request, template: str, *, status: int = 200, **context: Any) -> Reply:
        """A page (or, for htmx, a fragment) rendered with the signed-in context."""
        session = request.session
        csrf = context.pop("csrf", "") or (session.csrf if session else "")
        body = self.templates.get_template(template).render(
            session=session,
            csrf=csrf,
            nav=NAV,
            current=context.pop("current", ""),
            request=request,
            **context,
        )
        return Reply(status, body.encode())

    def secure(self, request: Request) -> bool:
        return self.secure_cookie if self.secure_cookie is not None else request.secure

    # --- dispatch ------------------------------------------------------------------------

    async def handle(
        self, scope: Scope, receive: Receive, headers: dict[bytes, bytes]
    ) -> tuple[Reply, str]:
        """The reply to one request whose path is /console or under it, and the route
        template to log it by (never the path's values or the query)."""
        method: str = scope["method"]
        path: str = scope["path"]
        try:
            reply, label = await self._dispatch(scope, receive, headers, method, path)
        except limits.BodyTooLarge:
            reply, label = self._error(413, "Too large", "The form is too large."), "/console"
        if label == "/console/static/{name}":
            reply.headers += [STATIC_CACHE, (b"x-content-type-options", b"nosniff")]
        else:
            reply.headers += [NO_STORE, *SECURITY_HEADERS]
        return reply, label

    async def _dispatch(
        self,
        scope: Scope,
        receive: Receive,
        headers: dict[bytes, bytes],
        method: str,
        path: str,
    ) -> tuple[Reply, str]:
        if path == PREFIX:
            return redirect(f"{PREFIX}/", 308), PREFIX
        if path.startswith(f"{PREFIX}/static/"):
            return self._static_file(method, path.removeprefix(f"{PREFIX}/static/")), (
                "/console/static/{name}"
            )
        route, params, allowed = self._match(method, path)
        if route is None:
            if allowed:
                reply = self._error(405, "Method not allowed", f"Use {', '.join(allowed)}.")
                reply.headers.append((b"allow", ", ".join(allowed).encode()))
                return reply, "/console"
            return self._error(404, "Not found", "No console page has this address."), "/console"
        form: dict[str, str] = {}
        if method == "POST":
            body = await limits.read_body(receive, FORM_LIMIT)
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if body and kind != b"application/x-www-form-urlencoded":
                return self._error(
                    415, "Unsupported form", "Forms are sent as application/x-www-form-urlencoded."
                ), route.template
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        request = _request(scope, headers, method, path, params, form)
        cookies = parse_cookies(headers.get(b"cookie"))
        request.session = self.sessions.read(cookies.get(SESSION_COOKIE))
        if route.signed_in and request.session is None:
            return self._sign_in_first(request), route.template
        if not route.signed_in and method == "POST":
            # Signing in replaces any session: its form carries the sign-in token.
            request.session = None
        if method == "POST" and not self._csrf_ok(request, cookies):
            # Logged without the token values: only that the check failed, and where.
            log.warning("console CSRF check failed", extra={"route": route.template})
            return self._error(
                403,
                "Refused",
                "This form was not sent from this console page (CSRF check failed). "
                "Reload the page and try again.",
            ), route.template
        try:
            return await route.handler(self, request), route.template
        except PageError as error:
            return self._error(error.status, error.title, error.message, request), route.template
        except ApiError as error:
            return self._api_error(error, request), route.template
        except Exception:
            # A bug: an error page in the console's own look, logged with the request id.
            log.exception("console page failed", extra={"route": route.template})
            return self._error(
                500, "Something went wrong", "The page could not be shown.", request
            ), route.template

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method or (route.method == "GET" and method == "HEAD"):
                return route, found.groupdict(), []
            allowed.append(route.method)
        return None, {}, allowed

    def _csrf_ok(self, request: Request, cookies: dict[str, str]) -> bool:
        # Browsers say where a request comes from; a cross-site one is refused before the
        # token is even looked at.
        origin = request.headers.get(b"origin")
        if origin is not None and origin.decode("latin-1") != request.origin:
            return False
        fetch_site = request.headers.get(b"sec-fetch-site")
        if fetch_site is not None and fetch_site not in (b"same-origin", b"none"):
            return False
        given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, b"").decode(
            "latin-1"
        )
        if request.session is not None:
            return same_token(request.session.csrf, given)
        expected = self.sessions.signin_csrf(cookies.get(SIGNIN_COOKIE))
        return expected is not None and same_token(expected, given)

    def _sign_in_first(self, request: Request) -> Reply:
        target = "/console/sign-in"
        if request.method == "GET" and request.path != f"{PREFIX}/":
            target += f"?next={request.path}"
        if request.htmx:
            # htmx follows HX-Redirect with a full page load.
            return Reply(401, b"", headers=[(b"hx-redirect", target.encode())])
        return redirect(target)

    def _api_error(self, error: ApiError, request: Request) -> Reply:
        if error.code == grpc.StatusCode.UNAUTHENTICATED:
            # The token was revoked or is unknown: the session is over.
            reply = redirect("/console/sign-in?ended=1")
            reply.headers.append(clear_cookie(SESSION_COOKIE, secure=self.secure(request)))
            return reply
        status = {
            grpc.StatusCode.PERMISSION_DENIED: 403,
            grpc.StatusCode.NOT_FOUND: 404,
            grpc.StatusCode.INVALID_ARGUMENT: 400,
            grpc.StatusCode.FAILED_PRECONDITION: 409,
            grpc.StatusCode.ALREADY_EXISTS: 409,
            grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
            grpc.StatusCode.UNAVAILABLE: 503,
            grpc.StatusCode.DEADLINE_EXCEEDED: 504,
        }.get(error.code, 500)
        title = {403: "Not allowed", 404: "Not found", 503: "Unavailable"}.get(status, "Refused")
        return self._error(status, title, error.message, request, fields=error.fields)

    def _error(
        self,
        status: int,
        title: str,
        message: str,
        request: Request | None = None,
        *,
        fields: list[tuple[str, str]] | None = None,
    ) -> Reply:
        body = self.templates.get_template("error.html").render(
            session=request.session if request else None,
            csrf=request.session.csrf if request and request.session else "",
            nav=NAV if request and request.session else (),
            current="",
            request=request,
            status=status,
            title=title,
            message=message,
            fields=fields or [],
        )
        return Reply(status, body.encode())

    def _static_file(self, method: str, name: str) -> Reply:
        if method not in ("GET", "HEAD"):
            return Reply(405, b"", "text/plain", [(b"allow", b"GET, HEAD")])
        body = self._static.get(name)
        if body is None:
            if "/" in name or name.startswith(".") or not name:
                return Reply(404, b"not found", "text/plain")
            asset = resources.files("inlet_gateway.console") / "static" / name
            if not asset.is_file():
                return Reply(404, b"not found", "text/plain")
            body = asset.read_bytes()
            self._static[name] = body
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        return Reply(200, body, kind)


def _request(
    scope: Scope,
    headers: dict[bytes, bytes],
    method: str,
    path: str,
    params: dict[str, str],
    form: dict[str, str],
) -> Request:
    query = dict(parse_qsl(scope.get("query_string", b"").decode("utf-8", "replace")))
    scheme = "https" if scope.get("scheme") == "https" else "http"
    host = headers.get(b"host", b"").decode("latin-1")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
    return Request(
        method=method,
        path=path,
        params=params,
        query=query,
        form=form,
        headers=headers,
        origin=f"{scheme}://{host}",
        secure=scheme == "https",
    )
