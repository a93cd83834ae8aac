"""Who may call the HTTP API: API keys, their roles and their datasets.

While no API key exists the API is open (local use, as before keys). Once one exists (revoked
ones count: revoking a leaked key never opens the API; ``indexflow keys delete`` of every key
does), every route but ``/healthz`` and the OpenAPI pages needs ``Authorization: Bearer <key>``,
checked in order:

- no key, or an unknown or revoked one → 401 ``unauthorized`` (with ``WWW-Authenticate: Bearer``);
- a role too weak for the route → 403 ``forbidden`` (read < write < admin);
- a document, plan, chunk or dataset outside the key's datasets → 404 ``not_found``, exactly as
  for one that does not exist, so a key learns nothing about other datasets.

A route declares its role with a parameter typed ``Reader``, ``Writer`` or ``Admin`` (the
principal) and passes ``who.scope`` to the facade's ``datasets=`` arguments. ``create_app``
refuses to build an app with a route that declares none (``check_every_route_has_a_role``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, Request, routing
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from indexflow.errors import Forbidden, NotFound, Unauthorized
from indexflow.views import Principal

if TYPE_CHECKING:
    from indexflow.service import Indexflow

PUBLIC_PATHS = frozenset({"/healthz"})
"""API routes anyone may call, with or without keys (the OpenAPI pages are public too)."""

ROLE_ATTRIBUTE = "indexflow_role"
# Declares the scheme in the OpenAPI document (the "Authorize" button of /docs); we answer 401.
_BEARER = HTTPBearer(auto_error=False, description="an API key: `indexflow keys create NAME --role …`")
LOOPBACK_NAMES = frozenset({"localhost"})


def bearer_secret(request: Request) -> str | None:
    """The secret of ``Authorization: Bearer <secret>``, if the request sends one."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> Principal:
    """The request's principal (cached on ``request.state.principal``).

    Raises:
        Unauthorized: a key exists and the request sends no valid one.
    """
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    ix: Indexflow = request.app.state.ix
    secret = credentials.credentials.strip() if credentials is not None else None
    principal = ix.keys.authenticate(secret) if secret else None
    if principal is None:
        if ix.keys.enforced():
            if secret:
                raise Unauthorized("invalid or revoked API key")
            raise Unauthorized("this API needs a key: send Authorization: Bearer <key>")
        principal = Principal.keyless()
    request.state.principal = principal
    return principal


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the authenticated principal, if its role is at least ``role``.

    Raises:
        Forbidden: its role is weaker.
    """

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.allows(role):
            raise Forbidden(f"this needs a {role} key; key {principal.name!r} is {principal.role}")
        return principal

    setattr(dependency, ROLE_ATTRIBUTE, role)
    dependency.__name__ = f"require_{role}"
    return dependency


Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def require_dataset(principal: Principal, dataset: str) -> None:
    """A dataset outside the key's datasets does not exist for it.

    Raises:
        NotFound: the same error as for a dataset that does not exist.
    """
    if not principal.sees(dataset):
        raise NotFound(f"dataset {dataset!r} does not exist")


def require_searchable(ix: Indexflow, principal: Principal, dataset: str) -> None:
    """Search needs a dataset that exists and that the key sees.

    Raises:
        NotFound: it does not (or the key does not see it); the message lists those it sees.
    """
    visible = [d for d in ix.documents.datasets() if principal.sees(d)]
    if dataset not in visible:
        listed = ", ".join(visible) or "none"
        raise NotFound(f"dataset {dataset!r} does not exist (datasets: {listed})")


def still_allowed(ix: Indexflow, request: Request, principal: Principal) -> bool:
    """For long requests (the event stream): the key is still valid, or the API still keyless."""
    if principal.name is None:
        return not ix.keys.enforced()
    secret = bearer_secret(request)
    again = ix.keys.authenticate(secret) if secret else None
    return again is not None and again.name == principal.name


def route_role(route: APIRoute) -> str | None:
    """The role a route requires (None: it declares none)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        role = getattr(dep.call, ROLE_ATTRIBUTE, None)
        if isinstance(role, str):
            return role
        stack.extend(dep.dependencies)
    return None


def api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every API route of the app with its full path, those of included routers too."""
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:  # a FastAPI that copies included routes into app.routes
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path, route
        return
    for context in contexts(app.routes):  # FastAPI ≥ 0.16x includes routers lazily
        route = context.original_route
        if isinstance(route, APIRoute):
            yield context.path or route.path, route


def check_every_route_has_a_role(app: FastAPI) -> None:
    """Fail closed: a route that declares no role (``Reader``, ``Writer``, ``Admin``) is a bug.

    Raises:
        RuntimeError: one does, naming it.
    """
    for path, route in api_routes(app):
        if path not in PUBLIC_PATHS and route_role(route) is None:
            methods = ",".join(sorted(route.methods or ()))
            raise RuntimeError(
                f"route {methods} {path} declares no role: give it a parameter typed "
                "Reader, Writer or Admin (indexflow.api.auth) and pass who.scope to the facade"
            )


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_problem(host: str, any_active_key: bool) -> str | None:
    """Why serving on ``host`` is refused (a non-loopback address while no key exists), or None."""
    if is_loopback(host) or any_active_key:
        return None
    return (
        f"refusing to serve on {host}: no API key exists, so anyone who can reach this address could "
        "read, change and delete every dataset. Create a key first, e.g. "
        "`indexflow keys create admin --role admin` (clients send it as `Authorization: Bearer <key>`), "
        "or serve on 127.0.0.1"
    )
