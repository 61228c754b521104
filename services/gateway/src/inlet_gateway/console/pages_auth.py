"""Signing in (an admin token and its workspace, exchanged for a session cookie) and out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from inlet.admin.v1 import admin_pb2
from inlet_gateway.console.session import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_SECONDS,
    clear_cookie,
    set_cookie,
)
from inlet_gateway.console.upstream import ApiError
from inlet_gateway.console.web import Reply, Request, Route, local_path, redirect

if TYPE_CHECKING:
    from inlet_gateway.console.app import Console


def _form(console: Console, request: Request, *, status: int = 200, error: str = "") -> Reply:
    csrf, cookie = console.sessions.signin_token()
    reply = console.page(
        request,
        "sign_in.html",
        status=status,
        csrf=csrf,
        error=error,
        workspace=request.form.get("workspace", request.query.get("workspace", "")),
        next=local_path(request.form.get("next") or request.query.get("next")),
        ended=request.query.get("ended") == "1",
        signed_out=request.query.get("signed_out") == "1",
    )
    reply.headers.append(
        set_cookie(SIGNIN_COOKIE, cookie, max_age=SIGNIN_SECONDS, secure=console.secure(request))
    )
    return reply


async def sign_in_form(console: Console, request: Request) -> Reply:
    if request.session is not None:
        return redirect("/console/")
    return _form(console, request)


async def sign_in(console: Console, request: Request) -> Reply:
    workspace = request.form.get("workspace", "").strip()
    token = request.form.get("token", "").strip()
    if not workspace or not token:
        return _form(console, request, status=400, error="Give the workspace and its admin token.")
    try:
        got = await console.upstream.call(
            console.upstream.admin.GetWorkspace,
            admin_pb2.GetWorkspaceRequest(name=f"workspaces/{workspace}"),
            token,
        )
    except ApiError as error:
        message = {
            grpc.StatusCode.UNAUTHENTICATED: "That admin token is not valid.",
            grpc.StatusCode.PERMISSION_DENIED: (
                f"That admin token does not grant the workspace {workspace!r}."
            ),
        }.get(error.code, error.message)
        status = 401 if error.code == grpc.StatusCode.UNAUTHENTICATED else 400
        return _form(console, request, status=status, error=message)
    w = got.workspace
    session = console.sessions.start(token, w.id, w.slug, w.display_name)
    secure = console.secure(request)
    reply = redirect(local_path(request.form.get("next")))
    reply.headers += [
        set_cookie(
            SESSION_COOKIE,
            console.sessions.seal(session),
            max_age=console.sessions.lifetime_seconds,
            secure=secure,
        ),
        clear_cookie(SIGNIN_COOKIE, secure=secure),
    ]
    return reply


async def sign_out(console: Console, request: Request) -> Reply:
    reply = redirect("/console/sign-in?signed_out=1")
    reply.headers.append(clear_cookie(SESSION_COOKIE, secure=console.secure(request)))
    return reply


ROUTES = [
    Route("GET", "/console/sign-in", sign_in_form, signed_in=False),
    Route("POST", "/console/sign-in", sign_in, signed_in=False),
    Route("POST", "/console/sign-out", sign_out),
]
