"""Dependencies of the API routes: the settings' engine and the tenant of a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import Engine

from mes_core.api.errors import ApiError
from mes_core.services import tenants
from mes_core.store.records import Tenant

__all__ = ["EngineDep", "NowDep", "TenantDep", "current_tenant", "engine", "now"]


def engine(request: Request) -> Engine:
    value: Engine = request.app.state.engine
    return value


EngineDep = Annotated[Engine, Depends(engine)]


def now(request: Request) -> float:
    """What time it is for the MES (UTC epoch seconds), from the app's clock."""
    return float(request.app.state.clock())


NowDep = Annotated[float, Depends(now)]


def current_tenant(
    tenant: str,
    db: EngineDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Tenant:
    """The tenant of the bearer token; 401 without a valid one, 404 when the path names another tenant."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    found = tenants.authenticate(db, token.strip())
    if found is None:
        raise ApiError(401, "unauthorized", "the bearer token is not valid")
    if tenant not in (found.name, str(found.id)):
        # Another tenant's resources are not found, rather than forbidden: nothing about them leaks.
        raise ApiError(404, "not_found", f"tenant {tenant!r} not found")
    return found


TenantDep = Annotated[Tenant, Depends(current_tenant)]
