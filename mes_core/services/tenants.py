"""Tenants and their API tokens: a token is shown once, only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine

from mes_core.store import repository
from mes_core.store.engine import transaction
from mes_core.store.records import Tenant

__all__ = ["authenticate", "create_tenant", "token_hash"]


def token_hash(token: str) -> str:
    """The stored form of an API token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_tenant(engine: Engine, name: str, timezone: str = "UTC") -> tuple[Tenant, str]:
    """Create a tenant; return it and its API token (shown this once).

    Raises:
        ValueError: an empty name or an unknown time zone.
        ConflictError: the name is taken.
    """
    name = name.strip()
    if not name:
        raise ValueError("a tenant needs a non-empty name")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{timezone!r} is not an IANA time zone such as 'Europe/Berlin'") from None
    token = secrets.token_urlsafe(32)
    with transaction(engine) as conn:
        tenant_id = repository.create_tenant(
            conn, name, token_hash(token), created_us=int(time.time() * 1e6), timezone=timezone
        )
        tenant = repository.get_tenant(conn, tenant_id)
    assert tenant is not None
    return tenant, token


def authenticate(engine: Engine, token: str) -> Tenant | None:
    """The tenant a bearer token belongs to, or None."""
    with transaction(engine) as conn:
        return repository.find_tenant_by_token_hash(conn, token_hash(token))
