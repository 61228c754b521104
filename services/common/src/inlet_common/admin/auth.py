"""Workspace auth of every admin API: the call's admin token must be the workspace's.

A missing or unknown token is UNAUTHENTICATED (401); a valid token naming another
workspace is PERMISSION_DENIED (403) with reason WRONG_WORKSPACE, on every route alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple

from inlet_common.admin import names
from inlet_common.credentials import bearer_token, token_hash
from inlet_common.edge import EDGE_ERROR_KEY, EDGE_MESSAGE_KEY
from inlet_common.errors import InvalidArgument, PermissionDenied, Unauthenticated

Metadata = Iterable[tuple[str, Any]] | None


class TokenWorkspace(NamedTuple):
    """The workspace an admin token belongs to."""

    id: str
    slug: str


# An admin token's SHA-256 hash → the workspace it belongs to, or None for no such token.
TokenLookup = Callable[[bytes], Awaitable[TokenWorkspace | None]]


def bearer(metadata: Metadata) -> str:
    """The token of the `authorization: Bearer …` metadata; UNAUTHENTICATED otherwise."""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            return bearer_token(value.decode() if isinstance(value, bytes) else str(value))
    return bearer_token(None)


def refuse_edge_rejection(metadata: Metadata) -> None:
    """A request whose body the edge refused acts on nothing: the service sees only its URL."""
    found = dict(metadata or ())
    edge = found.get(EDGE_ERROR_KEY)
    if edge:
        raise InvalidArgument(str(found.get(EDGE_MESSAGE_KEY) or edge), reason=str(edge))


class WorkspaceAuth:
    """Checks a call's admin token; error messages never repeat the token."""

    def __init__(self, lookup: TokenLookup) -> None:
        self._lookup = lookup

    async def token_workspace(self, metadata: Metadata) -> TokenWorkspace:
        # The hash is an index probe: the token is 256 random bits, so its hash reveals
        # nothing to timing (the same reasoning as endpoint tokens).
        found = await self._lookup(token_hash(bearer(metadata)))
        if found is None:
            raise Unauthenticated("the admin token is not valid", reason="ADMIN_TOKEN_INVALID")
        return found

    async def workspace(self, metadata: Metadata, key: str) -> TokenWorkspace:
        """The workspace `key` (its id or slug) once the token grants it."""
        granted = await self.token_workspace(metadata)
        if key not in (granted.id, granted.slug):
            raise PermissionDenied(
                f"the admin token does not grant access to workspace {key!r}",
                reason="WRONG_WORKSPACE",
            )
        return granted

    async def authorise(self, context: Any, field: str, name: str, *collections: str) -> list[str]:
        """The ids of resource name `name` (the request's `field`), the workspace's as its
        id, once the call's admin token grants that workspace; a request whose body the
        edge refused is refused here too, after the credential is checked."""
        parts = names.parts(field, name, *collections)
        metadata = list(context.invocation_metadata() or ())
        granted = await self.workspace(metadata, parts[0])
        refuse_edge_rejection(metadata)
        return [granted.id, *parts[1:]]
